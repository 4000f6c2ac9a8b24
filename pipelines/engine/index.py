"""The in-memory portfolio index: which enrolled artworks does a fingerprint show?

Three kinds of evidence, one decision rule (``PortfolioIndex.search``):

- whole image: the query's eight dihedral PDQ hashes against one PDQ hash per artwork, in a
  ``HammingIndex`` (a linear popcount scan while small, multi-index hashing beyond), then a
  second opinion (pHash, or the local-feature verification) for distances that PDQ alone
  does not make certain;
- part of an image (crops, screenshots, memes, borders): ORB descriptors, of the query as
  posted and mirrored (flipped crops), looked up in a ``FeatureIndex`` (an inverted file
  over random 20-bit slices of the descriptors, voting per artwork), then each candidate
  verified by matching descriptors and fitting a similarity transform with RANSAC
  (``verify_features``). Verification is what keeps false alarms rare per (image, artwork)
  pair, which matters once a portfolio holds thousands of works;
- beside them (``pipelines.engine.learned``): byte identity, the tight low-detail test, and
  the learned descriptor of the whole picture and of a composite picture's region proposals,
  which adds ``derivative`` (a re-drawn work) as the weakest kind.

Every constant of the rule sits in ``Rule`` (``LearnedRule`` for the third kind) with where
it came from. ``search`` is safe to call from many threads at once as long as no
``add``/``remove`` runs concurrently; the structures are rebuilt lazily (under a lock) on the
first search after a change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal, NamedTuple

import cv2
import numpy as np

from pipelines.engine.fingerprint import Fingerprint, OrbFeatures, PdqFingerprint, PHashFingerprint
from pipelines.engine.learned import LearnedSignals

# "derivative": a re-drawn work (pipelines.engine.learned), the weakest kind.
Kind = Literal["exact", "near", "partial", "derivative"]
_KIND_RANK = {"exact": 3, "near": 2, "partial": 1, "derivative": 0}


class Rule:
    """The default decision rule's constants, and where each number came from.

    "Calibration" is ``python -m benchmarks.accuracy --calibrate``: 40 generated artworks
    (seeds 100000+) edited by every family with their own random seeds, against 200 other
    generated images (seeds 200000+); 37,640 unrelated (image, artwork) pairs. The test split
    the benchmark reports on shares no image and no seed with it. On calibration the closest
    unrelated pair had PDQ 90 (whole image) / 100 (embedded region), pHash 14 and 11 RANSAC
    inliers.
    """

    # Meta's default PDQ match threshold (31 of 256 bits): a whole-image candidate at most
    # this far, for any of the query's eight dihedral variants or an embedded region.
    pdq_near: ClassVar[int] = PdqFingerprint.threshold
    # Up to this PDQ distance a match stands on PDQ alone: set before measuring, well inside
    # Meta's 31; calibration found no unrelated pair closer than 90.
    pdq_certain: ClassVar[int] = 24
    # Between pdq_certain and pdq_near, pHash in the same orientation at most this far
    # confirms; failing that, verified local features (min_inliers) do. pHash 16 alone would
    # not be safe (an unrelated calibration pair reached 14), joined to PDQ <= 31 it is.
    phash_confirm: ClassVar[int] = PHashFingerprint.threshold
    # "exact": untransformed orientation, PDQ and pHash both this close. Calibration
    # re-encodes and resizes have median PDQ 2 and pHash 0; 12 and 6 leave room for low JPEG
    # qualities.
    pdq_exact: ClassVar[int] = 12
    phash_exact: ClassVar[int] = 6
    # For candidates the local features voted for, a looser whole-image test for captions
    # and heavy overlays: PDQ and pHash must both hold, each far below the closest unrelated
    # calibration pair (90 and 14); no calibration negative passes both.
    pdq_voted: ClassVar[int] = 63
    phash_voted: ClassVar[int] = 8
    # Geometric verification: RANSAC inliers of a similarity transform needed for a match.
    # The most any unrelated calibration pair reached was 11 (with 256 keypoints per image);
    # 14 keeps a margin of 3 and lost no calibration recall against 12 (15 and up did).
    min_inliers: ClassVar[int] = 14
    # A partial match's score reaches 1.0 at this many inliers.
    full_inliers: ClassVar[int] = 60


@dataclass(frozen=True)
class Match:
    """One artwork the searched image shows, and the evidence."""

    artwork_id: str
    kind: Kind
    score: float
    distances: dict[str, float] = field(default_factory=dict)
    # Where a partial match sits in the searched image (x0, y0, x1, y1 as fractions of its
    # width and height), from the verified transform; None when no transform was verified.
    region: dict[str, float] | None = None


class Verified(NamedTuple):
    """The outcome of ``verify_features``: RANSAC inliers and the artwork -> query transform."""

    inliers: int
    transform: np.ndarray | None = None


class HammingIndex:
    """Nearest 256-bit codes within a radius: popcount scan, or multi-index hashing.

    Multi-index hashing splits each code into 16 chunks of 16 bits; two codes within
    ``radius`` bits agree to within ``radius // 16`` bits on at least one chunk (pigeonhole),
    so probing each chunk's exact value and its one-bit neighbours finds every code within 31
    bits. Chunks are kept as counting-sorted row lists (4 bytes per code per chunk), so the
    memory is 32 + 64 = 96 bytes per code.
    """

    chunks: ClassVar[int] = 16
    # Below this many codes a plain scan is as fast (measured by benchmarks/speed.py).
    scan_below: ClassVar[int] = 1_024

    def __init__(self, codes: np.ndarray, *, multi_index: bool | None = None):
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, 32)
        self._words = self.codes.view(np.uint64)
        use_mih = len(self.codes) >= self.scan_below if multi_index is None else multi_index
        self._tables = self._build_tables() if use_mih and len(self.codes) else None

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        tables = 0 if self._tables is None else sum(a.nbytes for a in self._tables)
        return self.codes.nbytes + tables

    def _build_tables(self) -> tuple[np.ndarray, np.ndarray]:
        values = self.codes.view("<u2")  # (n, 16)
        n = len(values)
        rows = np.empty((self.chunks, n), dtype=np.int32)
        offsets = np.empty((self.chunks, 65537), dtype=np.int64)
        for c in range(self.chunks):
            rows[c] = np.argsort(values[:, c], kind="stable")
            offsets[c, 0] = c * n
            offsets[c, 1:] = c * n + np.cumsum(np.bincount(values[:, c], minlength=65536))
        return rows.ravel(), offsets

    def within(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
        """Return (rows, distances, query numbers): every indexed code within ``radius`` of
        some query, with its smallest distance and the query that reached it."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)
        rows, which = self._candidates(queries, radius)
        # np.take copies whole rows; plain fancy indexing is ~4x slower on (n, 4) arrays.
        words = np.take(self._words, rows, axis=0)
        dist = _popcount(words ^ np.take(queries.view(np.uint64), which, axis=0))
        keep = dist <= radius
        rows, dist, which = rows[keep], dist[keep], which[keep]
        order = np.lexsort((dist, rows))
        rows, dist, which = rows[order], dist[order], which[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        return rows[first], dist[first], which[first]

    def _candidates(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, query number) pairs to check; every pair within ``radius`` is among them."""
        n, q = len(self.codes), len(queries)
        if self._tables is None or radius // self.chunks > 1:
            return np.tile(np.arange(n), q), np.repeat(np.arange(q), n)
        rows, offsets = self._tables
        values = queries.view("<u2").astype(np.int64)  # (q, 16)
        flips = np.concatenate([[0], 1 << np.arange(16)]) if radius >= self.chunks else [0]
        probes = values[:, :, None] ^ np.asarray(flips, dtype=np.int64)[None, None, :]
        chunk = np.broadcast_to(np.arange(self.chunks)[None, :, None], probes.shape)
        starts = offsets[chunk, probes].ravel()
        ends = offsets[chunk, probes + 1].ravel()
        asking = np.repeat(np.arange(q), probes[0].size)
        return rows[_expand_ranges(starts, ends)], np.repeat(asking, ends - starts)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row of an (n, 4) uint64 array, column by column (faster than sum)."""
    total = np.bitwise_count(words[:, 0]).astype(np.int64)
    for column in range(1, words.shape[1]):
        total += np.bitwise_count(words[:, column])
    return total


def _expand_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, e)`` for every pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.empty(0, dtype=np.int64)
    shifts = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shifts


_TABLES = 8
_KEY_BITS = 20


class FeatureIndex:
    """Inverted file over binary local descriptors (locality-sensitive hashing by bit slices).

    Each of ``tables`` tables keys a descriptor by ``bits`` fixed pseudo-random bits of it;
    two descriptors a few bits apart share a key in some table with high probability. A query
    votes for the owners of every descriptor sharing a key with one of its own; buckets more
    crowded than ``bucket_cap`` (textures every image has) do not vote. Small indexes find a
    key's bucket by binary search in the sorted keys; large ones (more descriptors than
    buckets) through a dense offsets table, 4 bytes per descriptor and table either way.
    """

    tables: ClassVar[int] = _TABLES
    bits: ClassVar[int] = _KEY_BITS
    bucket_cap: ClassVar[int] = 512
    # A shared key is a vote only if the descriptors are this close (of 256 bits): colliding
    # but unrelated descriptors then stop burying the true artwork among noise candidates.
    # Chosen on the calibration split (48 and 64 alike, 64 best: recall 0.986 -> 0.987) and
    # it verifies fewer candidates (full search at 10k works 9.5 -> 6.4 ms).
    vote_distance: ClassVar[int] = 64
    # Beyond this many descriptors a dense offsets table (8 MB per table) beats binary search.
    dense_above: ClassVar[int] = 1 << _KEY_BITS
    _selection: ClassVar[np.ndarray] = np.random.default_rng(20240611).permuted(
        np.tile(np.arange(256), (_TABLES, 1)), axis=1
    )[:, :_KEY_BITS]
    _weights: ClassVar[np.ndarray] = (1 << np.arange(_KEY_BITS)).astype(np.int64)

    def __init__(self, descriptors: np.ndarray, owners: np.ndarray):
        self.descriptors = np.ascontiguousarray(descriptors, dtype=np.uint8).reshape(-1, 32)
        self.owners = np.asarray(owners, dtype=np.int32)
        self._n_owners = int(self.owners.max(initial=-1)) + 1
        n = len(self.owners)
        keys = np.empty((self.tables, n), dtype=np.int32)
        block = 1 << 18
        for start in range(0, n, block):
            keys[:, start : start + block] = self.keys(self.descriptors[start : start + block]).T
        self._rows = np.empty((self.tables, n), dtype=np.int32)
        dense = n > self.dense_above
        self._offsets = np.empty((self.tables, (1 << self.bits) + 1), np.int64) if dense else None
        self._sorted = None if dense else np.empty((self.tables, n), dtype=np.int32)
        for t in range(self.tables):
            order = np.argsort(keys[t], kind="stable")
            self._rows[t] = order
            if dense:
                self._offsets[t, 0] = 0
                np.cumsum(np.bincount(keys[t], minlength=1 << self.bits), out=self._offsets[t, 1:])
            else:
                self._sorted[t] = keys[t][order]

    @property
    def nbytes(self) -> int:
        parts = (self.descriptors, self.owners, self._rows, self._offsets, self._sorted)
        return sum(a.nbytes for a in parts if a is not None)

    @classmethod
    def keys(cls, descriptors: np.ndarray) -> np.ndarray:
        """(n, tables) bucket keys of (n, 32) descriptors."""
        bits = np.unpackbits(descriptors, axis=1)
        return bits[:, cls._selection].astype(np.int64) @ cls._weights

    def votes(self, descriptors: np.ndarray) -> np.ndarray:
        """Per owner, how many query descriptors share a bucket with one of its descriptors
        within ``vote_distance`` bits."""
        if not len(descriptors) or not self._n_owners:
            return np.zeros(self._n_owners, dtype=np.int64)
        keys = self.keys(descriptors)  # (q, tables)
        n = len(self.owners)
        hits = []
        for t in range(self.tables):
            if self._offsets is not None:
                starts, ends = self._offsets[t, keys[:, t]], self._offsets[t, keys[:, t] + 1]
            else:  # int32 keys: searching int64 values would cast the whole table per call
                column = keys[:, t].astype(np.int32)
                starts = np.searchsorted(self._sorted[t], column, side="left")
                ends = np.searchsorted(self._sorted[t], column, side="right")
            ends = np.where(ends - starts > self.bucket_cap, starts, ends)
            rows = self._rows.ravel()[_expand_ranges(starts + t * n, ends + t * n)]
            hits.append((rows, np.repeat(np.arange(len(keys)), ends - starts)))
        rows = np.concatenate([h[0] for h in hits])
        asking = np.concatenate([h[1] for h in hits])
        words = np.ascontiguousarray(descriptors, dtype=np.uint8).view(np.uint64)
        dist = _popcount(
            np.take(self.descriptors.view(np.uint64), rows, axis=0) ^ np.take(words, asking, axis=0)
        )
        rows, asking = rows[dist <= self.vote_distance], asking[dist <= self.vote_distance]
        # One vote per (query descriptor, artwork): repeated textures must not stuff the box.
        pairs = np.sort(asking * self._n_owners + self.owners[rows])
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]  # np.unique, minus its hashing overhead
        return np.bincount(pairs[first] % self._n_owners, minlength=self._n_owners)


def verify_features(
    query_xy: np.ndarray, query_desc: np.ndarray, art_xy: np.ndarray, art_desc: np.ndarray
) -> Verified:
    """RANSAC inliers of a similarity transform mapping the artwork into the query (0 if none).

    Matches are mutual-nearest descriptor pairs passing Lowe's ratio test; the transform must
    not collapse or blow up the artwork (scale within 1/8..8).
    """
    if len(query_desc) < Rule.min_inliers or len(art_desc) < Rule.min_inliers:
        return Verified(0)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query_desc, art_desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    best: dict[int, cv2.DMatch] = {}
    for m in good:  # one query point per artwork point, the closest
        if m.trainIdx not in best or m.distance < best[m.trainIdx].distance:
            best[m.trainIdx] = m
    if len(best) < Rule.min_inliers:
        return Verified(0)
    src = np.float32([art_xy[m.trainIdx] for m in best.values()])
    dst = np.float32([query_xy[m.queryIdx] for m in best.values()])
    transform, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0, maxIters=2000, confidence=0.995
    )
    if transform is None or inliers is None:
        return Verified(0)
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    if not 1 / 8 <= scale <= 8:
        return Verified(0)
    return Verified(int(inliers.sum()), transform)


def artwork_region(
    transform: np.ndarray, artwork: Fingerprint, query: Fingerprint, mirrored: bool
) -> dict[str, float] | None:
    """The artwork's outline in the query under ``transform``, as fractions of the query's
    size (clipped to it; a mirrored view's x taken back to the picture as posted)."""
    width, height = artwork.width, artwork.height
    corners = np.float32([[0, 0], [width, 0], [0, height], [width, height]])
    placed = corners @ transform[:, :2].T + transform[:, 2]
    x0, y0 = np.clip(placed.min(axis=0), 0, [query.width, query.height])
    x1, y1 = np.clip(placed.max(axis=0), 0, [query.width, query.height])
    if mirrored:
        x0, x1 = query.width - x1, query.width - x0
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    box = (x0 / query.width, y0 / query.height, x1 / query.width, y1 / query.height)
    return dict(zip(("x0", "y0", "x1", "y1"), (round(float(v), 4) for v in box), strict=True))


@dataclass
class _Entry:
    fingerprint: Fingerprint
    xy: np.ndarray
    desc: np.ndarray


@dataclass
class _Snapshot:
    ids: list[str]
    entries: list[_Entry]
    pdq_rows: np.ndarray  # HammingIndex row -> slot
    hamming: HammingIndex
    features: FeatureIndex
    learned: LearnedSignals


class PortfolioIndex:
    """All enrolled artworks of all artists, searchable by ``Fingerprint``."""

    # Verify at most this many feature candidates per search, best voted first.
    max_candidates: ClassVar[int] = 6
    # A candidate needs this many votes before it is worth verifying.
    min_votes: ClassVar[int] = 3

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, artwork_id: object) -> bool:
        return artwork_id in self._entries

    def add(self, artwork_id: str, fingerprint: Fingerprint) -> None:
        """Add or replace one artwork's fingerprint."""
        xy = OrbFeatures.positions(fingerprint.orb_xy)
        desc = OrbFeatures.descriptors(fingerprint.orb_desc)
        self._entries[str(artwork_id)] = _Entry(fingerprint, xy, desc)
        self._snapshot = None

    def remove(self, artwork_id: str) -> None:
        """Forget an artwork; unknown ids are ignored."""
        if self._entries.pop(str(artwork_id), None) is not None:
            self._snapshot = None

    def search(self, fingerprint: Fingerprint) -> list[Match]:
        """Artworks the fingerprinted image shows, best first, by the default rule."""
        snap = self._current()
        if not snap.ids:
            return []
        found: dict[int, Match] = {}
        for slot, match in self._whole_image(snap, fingerprint):
            if slot not in found or _rank(match) > _rank(found[slot]):
                found[slot] = match
        for slot, match in self._partial(snap, fingerprint, exclude=found.keys()):
            found[slot] = match
        # Byte identity, low-detail works and the learned descriptor: only a stronger kind
        # replaces the hashes' and features' evidence.
        for slot, kind, score, distances in snap.learned.search(fingerprint):
            if slot not in found or _KIND_RANK[kind] > _KIND_RANK[found[slot].kind]:
                found[slot] = Match(snap.ids[slot], kind, score, distances)
        for slot, match in found.items():
            if match.kind == "partial" and match.region is None:  # not located by _partial
                found[slot] = replace(match, region=_locate(snap.entries[slot], fingerprint))
        return sorted(found.values(), key=_rank, reverse=True)

    def _current(self) -> _Snapshot:
        snap = self._snapshot
        if snap is not None:
            return snap
        with self._lock:
            if self._snapshot is None:
                self._snapshot = _build(self._entries)
            return self._snapshot

    def _whole_image(self, snap: _Snapshot, fp: Fingerprint):
        regions = fp.usable_regions()
        hashes = [fp.pdq_hashes] if fp.pdq_usable else []
        hashes += [np.frombuffer(pdq, np.uint8)[None] for pdq, _ in regions]
        if not hashes or not len(snap.hamming):
            return
        variants = PdqFingerprint.variants if fp.pdq_usable else 0
        rows, dists, which = snap.hamming.within(np.concatenate(hashes), Rule.pdq_near)
        views: list[tuple[np.ndarray, np.ndarray]] = []
        for row, dist, probe in zip(rows.tolist(), dists.tolist(), which.tolist(), strict=True):
            slot = int(snap.pdq_rows[row])
            entry = snap.entries[slot]
            if probe < variants:
                phash_query, distances = fp.phash_variant(probe), {"variant": probe}
            else:
                phash_query, distances = regions[probe - variants][1], {"region": probe - variants}
            phash = PHashFingerprint.distance(phash_query, entry.fingerprint.phash_variant(0))
            distances.update(pdq=dist, phash=phash)
            confirmed = dist <= Rule.pdq_certain or phash <= Rule.phash_confirm
            if not confirmed:
                views = views or _views(fp)
                inliers = max(verify_features(*v, entry.xy, entry.desc).inliers for v in views)
                distances["inliers"] = inliers
                confirmed = inliers >= Rule.min_inliers
            if confirmed:
                yield (
                    slot,
                    Match(snap.ids[slot], _kind(probe, dist, phash), 1 - dist / 256, distances),
                )

    def _partial(self, snap: _Snapshot, fp: Fingerprint, exclude):
        if fp.feature_count < Rule.min_inliers or not len(snap.features.owners):
            return
        views = _views(fp)
        # Votes per view (as posted, mirrored); a candidate ranks by its better view.
        votes = np.stack([snap.features.votes(desc) for _, desc in views])
        best = votes.max(axis=0)
        wanted = min(len(best), self.max_candidates + len(exclude))
        top = np.argpartition(-best, wanted - 1)[:wanted]  # no full sort of every artwork
        ranked = top[np.argsort(-best[top], kind="stable")]
        checked = 0
        for slot in ranked.tolist():
            if best[slot] < self.min_votes or checked >= self.max_candidates:
                break
            if slot in exclude:
                continue
            checked += 1
            entry = snap.entries[slot]
            loose = _loose_whole_image(fp, entry.fingerprint)
            if loose is not None:
                yield slot, Match(snap.ids[slot], "near", 1 - loose["pdq"] / 256, loose)
                continue
            view = int(votes[:, slot].argmax())  # the other view rarely wins (measured)
            verified = verify_features(*views[view], entry.xy, entry.desc)
            if verified.inliers >= Rule.min_inliers:
                score = min(1.0, verified.inliers / Rule.full_inliers)
                distances = {
                    "inliers": verified.inliers,
                    "votes": int(votes[view, slot]),
                    "mirror": view,
                }
                region = artwork_region(verified.transform, entry.fingerprint, fp, view == 1)
                yield slot, Match(snap.ids[slot], "partial", score, distances, region)


def _locate(entry: _Entry, fp: Fingerprint) -> dict[str, float] | None:
    """Where the artwork sits in the query, from the best verified view; only for matches,
    so the second verification costs nothing on the images that match nothing."""
    verified = [verify_features(*view, entry.xy, entry.desc) for view in _views(fp)]
    best = max(range(len(verified)), key=lambda view: verified[view].inliers)
    if verified[best].inliers < Rule.min_inliers:
        return None
    return artwork_region(verified[best].transform, entry.fingerprint, fp, mirrored=best == 1)


def _views(fp: Fingerprint) -> list[tuple[np.ndarray, np.ndarray]]:
    """The query's local features as posted and, when present, mirrored: (positions,
    descriptors) each, so a flipped and cropped repost is verified like an unflipped one."""
    views = [(OrbFeatures.positions(fp.orb_xy), OrbFeatures.descriptors(fp.orb_desc))]
    if fp.orb_mirror_desc:
        mirrored = OrbFeatures.descriptors(fp.orb_mirror_desc)
        views.append((OrbFeatures.positions(fp.orb_mirror_xy), mirrored))
    return views


def _loose_whole_image(query: Fingerprint, art: Fingerprint) -> dict[str, int] | None:
    """PDQ and pHash both moderately close: a whole-image edit (captions, heavy overlays)
    too strong for PDQ's own threshold, only tried on candidates the features voted for."""
    if not (query.pdq_usable and art.pdq_usable):
        return None
    dist = np.bitwise_count(query.pdq_hashes ^ art.pdq_hashes[0]).sum(axis=1)
    variant = int(dist.argmin())
    phash = PHashFingerprint.distance(query.phash_variant(variant), art.phash_variant(0))
    if dist[variant] <= Rule.pdq_voted and phash <= Rule.phash_voted:
        return {"pdq": int(dist[variant]), "phash": phash, "variant": variant}
    return None


def _rank(match: Match) -> tuple[int, float]:
    return _KIND_RANK[match.kind], match.score


def _kind(probe: int, pdq: int, phash: int) -> Kind:
    if probe >= PdqFingerprint.variants:
        return "partial"  # an embedded region: the artwork inside a larger picture
    if probe == 0 and pdq <= Rule.pdq_exact and phash <= Rule.phash_exact:
        return "exact"
    return "near"


def _build(entries: dict[str, _Entry]) -> _Snapshot:
    ids = list(entries)
    values = [entries[i] for i in ids]
    usable = [s for s, e in enumerate(values) if e.fingerprint.pdq_usable]
    packed = b"".join(values[s].fingerprint.pdq[:32] for s in usable)
    codes = np.frombuffer(packed, dtype=np.uint8).reshape(-1, 32)
    owners = np.concatenate(
        [np.full(len(e.desc), s, dtype=np.int32) for s, e in enumerate(values)] or [[]]
    )
    desc = np.concatenate([e.desc for e in values] or [np.empty((0, 32), np.uint8)])
    return _Snapshot(
        ids=ids,
        entries=values,
        pdq_rows=np.asarray(usable, dtype=np.int64),
        hamming=HammingIndex(codes),
        features=FeatureIndex(desc, owners),
        learned=LearnedSignals([e.fingerprint for e in values]),
    )
