"""Enrollment: an artist's files, folders or URLs become fingerprinted artworks.

Each source is read (URLs through the private-address guard and a size limit), hashed with
sha256 (an artist's duplicate is skipped before any decoding), fingerprinted with the same
engine the crawl uses, and stored with a thumbnail. A source that is not a readable image is
reported with the reason and the rest go on. New artworks are then searched against every
image already crawled (``backscan``), so the artist learns about old posts too. The source
of each artwork is kept so that a new fingerprint version can re-read it (``refresh``).
"""

from __future__ import annotations

import hashlib
import io
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from pipelines.engine.decode import decode
from pipelines.engine.fingerprint import Fingerprint, fingerprint, is_current
from pipelines.engine.index import PortfolioIndex
from pipelines.engine.thumbnails import thumbnail
from pipelines.errors import ArtWatchError, FetchError, ImageRejected
from pipelines.netguard import check_url
from pipelines.store.hits import hit_document, record_hit
from pipelines.store.sync import Store, object_id, utcnow

MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 30


@dataclass
class EnrollReport:
    added: list[str] = field(default_factory=list)  # new artwork ids
    duplicates: list[str] = field(default_factory=list)  # sources already enrolled
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, why)


def expand(inputs: Iterable[str]) -> Iterator[str]:
    """Files as given, folders recursively (hidden entries skipped), URLs as given."""
    for item in inputs:
        path = Path(item)
        if urlsplit(item).scheme in ("http", "https") or not path.is_dir():
            yield item
            continue
        for child in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if child.is_file() and not hidden:
                yield str(child)


def read_source(source: str, allow_private: Iterable[str] = ()) -> bytes:
    """The bytes of a file or an http(s) URL; FetchError says why they could not be read."""
    if urlsplit(source).scheme in ("http", "https"):
        return _download(source, tuple(allow_private))
    try:
        return Path(source).read_bytes()
    except FileNotFoundError:
        raise FetchError("no such file") from None
    except OSError as error:
        raise FetchError(error.strerror or str(error)) from None


def _download(url: str, allow_private: tuple[str, ...]) -> bytes:
    check_url(url, allow_private)  # also refuses every scheme but http(s)
    headers = {"User-Agent": "ArtWatch portfolio enrollment"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
            # A redirect may have led elsewhere: the final address must pass the guard too.
            check_url(response.geturl(), allow_private)
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except OSError as error:
        raise FetchError(f"download failed: {error}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise FetchError(f"larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB")
    return data


def artwork_fields(data: bytes, source: str) -> dict:
    """Fingerprint and thumbnail of one image; raises ImageRejected when it is unusable."""
    work = decode(data)
    width, height = Image.open(io.BytesIO(data)).size  # header only; decode checked it
    return {
        "filename": Path(urlsplit(source).path).name or source,
        "source": source,
        "fingerprint": fingerprint(work).to_document(),
        "thumbnail": thumbnail(work),
        "width": width,
        "height": height,
        "bytes": len(data),
    }


def enroll(
    store: Store,
    artist_id: str,
    sources: Iterable[str],
    allow_private: Iterable[str] = (),
    on_progress: Callable[[str, str | None], None] = lambda source, failure: None,
) -> EnrollReport:
    """Add every source to the artist's portfolio; ``on_progress(source, failure)`` each."""
    if store.artist(artist_id) is None:
        raise ArtWatchError(f"no artist with id {artist_id} (see `artwatch artist list`)")
    report = EnrollReport()
    for source in sources:
        failure = _enroll_one(store, artist_id, source, tuple(allow_private), report)
        if failure:
            report.failures.append((source, failure))
        on_progress(source, failure)
    return report


def _enroll_one(
    store: Store, artist_id: str, source: str, allow_private: tuple[str, ...], report
) -> str | None:
    try:
        data = read_source(source, allow_private)
        sha256 = hashlib.sha256(data).hexdigest()
        if store.db.artworks.find_one({"artist_id": artist_id, "sha256": sha256}, {"_id": 1}):
            report.duplicates.append(source)
            return None
        fields = artwork_fields(data, source)
    except ImageRejected as error:
        return f"not a usable image ({error})"
    except FetchError as error:
        return str(error)
    artwork_id, created = store.add_artwork(artist_id, sha256, fields)
    if created:
        report.added.append(artwork_id)
    else:
        report.duplicates.append(source)  # enrolled concurrently by another process
    return None


def stale_artworks(store: Store) -> list[dict]:
    """Artworks fingerprinted by an older engine version, which must be re-read."""
    return [
        artwork
        for artwork in store.db.artworks.find({}, {"thumbnail": 0})
        if not is_current(artwork.get("fingerprint"))
    ]


def refresh(store: Store, allow_private: Iterable[str] = ()) -> tuple[int, list[tuple[str, str]]]:
    """Re-fingerprint stale artworks from their sources: (number done, (source, why) failures)."""
    done, failures = 0, []
    for artwork in stale_artworks(store):
        source = artwork["source"]
        try:
            fields = artwork_fields(read_source(source, allow_private), source)
        except (ImageRejected, FetchError) as error:
            failures.append((source, str(error)))
            continue
        store.db.artworks.update_one({"_id": artwork["_id"]}, {"$set": fields})
        done += 1
    return done, failures


def backscan(
    store: Store, artwork_ids: Iterable[str], on_progress: Callable[[], None] = lambda: None
) -> int:
    """Search every crawled image for these artworks; returns the number of new hits.

    Images whose stored fingerprint is of another engine version are skipped (they are
    fingerprinted again when a crawl sees them). ``on_progress`` is called once per image.
    """
    ids = [object_id(artwork_id, "artwork id") for artwork_id in artwork_ids]
    artworks = {str(a["_id"]): a for a in store.db.artworks.find({"_id": {"$in": ids}})}
    if not artworks:
        return 0
    index = PortfolioIndex()
    for artwork_id, artwork in artworks.items():
        index.add(artwork_id, Fingerprint.from_document(artwork["fingerprint"]))
    artists = {a: store.artist(a) for a in {w["artist_id"] for w in artworks.values()}}
    created = 0
    for image in store.db.images.find({}):
        on_progress()
        if not is_current(image.get("fingerprint")):
            continue
        for match in index.search(Fingerprint.from_document(image["fingerprint"])):
            artwork = artworks[match.artwork_id]
            artist = artists[artwork["artist_id"]]
            for post in store.db.posts.find({"images.sha256": image["_id"]}):
                hit = hit_document(artwork["artist_id"], artwork, match, post, image, utcnow())
                created += record_hit(store.db, hit, artist)[1]
    return created
