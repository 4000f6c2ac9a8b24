"""Enrollment: an artist's files, folders or URLs become fingerprinted artworks.

Each source is read (URLs with httpx, every redirect hop through the private-address guard,
every connection opened to the address the guard checked, with a size limit), hashed (an
artist's duplicate is skipped), fingerprinted with the crawl's engine and stored with a
thumbnail; an unreadable source is reported with the reason and the rest go on.
``backscan`` searches already crawled images for new artworks; ``refresh`` re-reads each
artwork's source when the fingerprint version changes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
import httpx
from PIL import Image

from pipelines.engine.decode import decode
from pipelines.engine.fingerprint import Fingerprint, fingerprint, is_current
from pipelines.engine.index import PortfolioIndex
from pipelines.engine.thumbnails import thumbnail
from pipelines.errors import ArtWatchError, FetchError, ImageRejected
from pipelines.netguard import check_host, check_url
from pipelines.store.hits import hit_document
from pipelines.store.sync import Store
from pipelines.store.writes import object_id, utcnow

MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 30
MAX_REDIRECTS = 5
USER_AGENT = "ArtWatch portfolio enrollment"


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
    """GET ``url``, following redirects one hop at a time so each target passes the guard."""
    headers = {"User-Agent": USER_AGENT}
    transport = _pinned_transport(allow_private)
    with httpx.Client(
        headers=headers, timeout=DOWNLOAD_TIMEOUT_SECONDS, transport=transport
    ) as client:
        request = client.build_request("GET", url)
        for _ in range(MAX_REDIRECTS + 1):
            check_url(str(request.url), allow_private)  # also refuses every scheme but http(s)
            try:
                response = client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        return _body(response)
                    request = response.next_request
                finally:
                    response.close()
            except httpx.HTTPError as error:
                raise FetchError(f"download failed: {error}") from None
    raise FetchError(f"download failed: more than {MAX_REDIRECTS} redirects")


class _PinnedBackend(httpcore.SyncBackend):
    """Opens each connection to an address the guard checked at that moment, never to a
    second DNS answer (rebinding); TLS still verifies the certificate for the URL's host."""

    def __init__(self, allow_private: tuple[str, ...]):
        self.allow_private = allow_private

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        failure: Exception = FetchError(f"download failed: no address for {host}")
        for address in check_host(host, port, self.allow_private):
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
        raise failure


def _pinned_transport(allow_private: tuple[str, ...]) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    # httpx takes no network backend: its pool is rebuilt around ours (tested by rebinding).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=_PinnedBackend(allow_private)
    )
    return transport


def _body(response: httpx.Response) -> bytes:
    if response.is_error:
        raise FetchError(f"download failed: HTTP {response.status_code}")
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise FetchError(f"larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB")
    return bytes(data)


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
        if store.has_artwork(artist_id, sha256):
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
    return [artwork for artwork in store.artworks() if not is_current(artwork.get("fingerprint"))]


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
        store.update_artwork(str(artwork["_id"]), fields)
        done += 1
    return done, failures


def backscan(
    store: Store, artwork_ids: Iterable[str], on_progress: Callable[[], None] = lambda: None
) -> int:
    """Search every crawled image for these artworks; returns the number of new hits.

    Images whose stored fingerprint is of another engine version are skipped (they are
    fingerprinted again when a crawl sees them). ``on_progress`` is called once per image.
    """
    ids = [str(object_id(artwork_id, "artwork id")) for artwork_id in artwork_ids]
    artworks = store.artworks_by_id(ids)
    if not artworks:
        return 0
    index = PortfolioIndex()
    for artwork_id, artwork in artworks.items():
        index.add(artwork_id, Fingerprint.from_document(artwork["fingerprint"]))
    artists = {a: store.artist(a) for a in {w["artist_id"] for w in artworks.values()}}
    created = 0
    for image in store.all_images():
        on_progress()
        if not is_current(image.get("fingerprint")):
            continue
        for match in index.search(Fingerprint.from_document(image["fingerprint"])):
            artwork = artworks[match.artwork_id]
            artist = artists[artwork["artist_id"]]
            for post in store.posts_with_image(image["_id"]):
                hit = hit_document(artwork["artist_id"], artwork, match, post, image, utcnow())
                created += store.record_hit(hit, artist)[1]
    return created
