"""The signals beside hashes and local features: byte identity, the tight low-detail test, and
the learned descriptor of the whole picture and of its region proposals.

``LearnedSignals`` is built with the portfolio index's snapshot and answers, for a query
fingerprint, (slot, kind, score, distances) tuples that ``PortfolioIndex.search`` merges with
its own whole-image and partial matches under one rule: a stronger kind always wins. Every
constant sits in ``LearnedRule`` with where it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from pipelines.engine.ann import DescriptorIndex
from pipelines.engine.descriptor import SscdDescriptor
from pipelines.engine.exact import ColourLayout
from pipelines.engine.fingerprint import Fingerprint, PHashFingerprint
from pipelines.engine.regions import RegionDescriptors

Found = tuple[int, str, float, dict]


class LearnedRule:
    """Constants of the learned and exact signals, read from the calibration split's pair
    evidence (``python -m benchmarks.accuracy --calibrate``: 40 generated works and 6
    low-detail ones, 1,417 queries, 199 unrelated images; never the test split). There, over
    unrelated pairs with a work that is not low-detail, the highest whole-picture cosine was
    0.812 and the highest region cosine 0.793; pHash in PDQ's best orientation was never
    below 12; the colour layout of a low-detail work was never within 15 of an unrelated
    picture. A first choice read from a 16-work run of it (0.82 / 0.76 / 0.60 / 0.15 / 0.40 /
    14 / 0.70 / 0.10) flagged 4 of these 199 unrelated images: too few pairs to see it."""

    # Whole picture: a copy at or above this cosine (0.812 + margin).
    copy_cosine: ClassVar[float] = 0.85
    # A region proposal of a composite picture: the artwork inside it (0.793 + margin).
    region_cosine: ClassVar[float] = 0.82
    # Score normalisation (the SSCD paper's, with the portfolio as the background set): a
    # picture that resembles many works alike shows a style, not one work. Below the
    # absolute thresholds, a candidate also counts when it beats the background_rank-th
    # most similar work by the margin (only with at least that many works indexed).
    # Calibration: with every constant of this class together, no unrelated image and no
    # wrong work for an edited one passed; the learned signals alone found app screenshots
    # 0.95, on photo 0.97, side by side 0.95, 3x3 grid 0.75, crop+scale+JPEG 0.88.
    background_rank: ClassVar[int] = 3
    region_floor: ClassVar[float] = 0.70
    region_margin: ClassVar[float] = 0.15
    whole_floor: ClassVar[float] = 0.65
    whole_margin: ClassVar[float] = 0.20
    # A re-drawn work (``derivative``): composition kept, so pHash in PDQ's best orientation
    # stays within derivative_phash (unrelated pairs: never below 12; stylization median 5,
    # cartoon 3, k-colour 7) while the descriptor agrees at least this much. Calibration,
    # learned signals alone: stylization 0.72, cartoon 0.85, k-colour 0.97, posterize 0.97.
    derivative_cosine: ClassVar[float] = 0.50
    derivative_phash: ClassVar[int] = 10
    # Low-detail works (PDQ quality below its floor): PDQ and pHash of a gradient move by
    # up to 114 and 26 bits on a mere re-encode (calibration), the colour layout by at most
    # 0.7 while no unrelated picture came within 15 of one; and, when both sides have a
    # descriptor, at least low_cosine (calibration re-encodes and resizes >= 0.725).
    low_colour: ClassVar[float] = 3.0
    low_cosine: ClassVar[float] = 0.6


class LearnedSignals:
    """Per snapshot: digests, low-detail works and the descriptor index."""

    def __init__(self, fingerprints: list[Fingerprint]):
        self.digests: dict[bytes, list[int]] = {}  # two artists may enroll the same file
        for slot, fp in enumerate(fingerprints):
            if fp.digest:
                self.digests.setdefault(fp.digest, []).append(slot)
        self.low = np.asarray(
            [s for s, fp in enumerate(fingerprints) if not fp.pdq_usable and fp.colour],
            dtype=np.int64,
        )
        layouts = b"".join(fingerprints[slot].colour for slot in self.low.tolist())
        self.low_colours = np.frombuffer(layouts, np.uint8).reshape(-1, ColourLayout.size)
        self.fingerprints = fingerprints
        # A low-detail work's descriptor tells little (unrelated fine textures reached 0.85
        # on calibration): such works are found by the exact and low-detail tests only.
        described = [s for s, fp in enumerate(fingerprints) if fp.descriptor and fp.pdq_usable]
        codes = b"".join(fingerprints[slot].descriptor for slot in described)
        self.rows = np.asarray(described, dtype=np.int64)
        self.descriptors = DescriptorIndex(np.frombuffer(codes, np.int8))

    @property
    def nbytes(self) -> int:
        return self.descriptors.nbytes + self.rows.nbytes

    def search(self, fp: Fingerprint) -> Iterator[Found]:
        for slot in self.digests.get(fp.digest, ()):
            yield slot, "exact", 1.0, {"sha256": 0}
        yield from self._low_detail(fp)
        yield from self._descriptors(fp)

    def _low_detail(self, fp: Fingerprint) -> Iterator[Found]:
        """Resized or re-encoded low-detail works: the colour layout tight, the descriptor
        agreeing."""
        if not len(self.low) or len(fp.colour) != ColourLayout.size:
            return
        query = np.frombuffer(fp.colour, np.uint8).astype(np.int16)
        distances = np.abs(self.low_colours - query).mean(axis=1)
        for slot, colour in zip(self.low.tolist(), distances.tolist(), strict=True):
            if colour > LearnedRule.low_colour:
                continue
            art = self.fingerprints[slot]
            cosine = SscdDescriptor.similarity(fp.descriptor, art.descriptor)
            if fp.descriptor and art.descriptor and cosine < LearnedRule.low_cosine:
                continue
            yield slot, "near", 1 - colour / 255, {"colour": round(colour, 2)}

    def _descriptors(self, fp: Fingerprint) -> Iterator[Found]:
        if not fp.descriptor or not len(self.descriptors):
            return
        regions = RegionDescriptors.unpack(fp.proposals)
        vectors = [fp.descriptor] + [vector for _, vector in regions]
        queries = np.stack([SscdDescriptor.vector(v) for v in vectors])
        rows, sims = self.descriptors.nearest(queries, DescriptorIndex.neighbours)
        # The background: the background_rank-th most similar work (none: no normalisation).
        rank = LearnedRule.background_rank - 1
        background = sims[:, rank] if len(self.descriptors) > rank else np.full(len(sims), 2.0)
        for row, sim in zip(rows[0].tolist(), sims[0].tolist(), strict=True):
            if row < 0 or sim < LearnedRule.derivative_cosine:
                break
            found = self._whole(fp, int(self.rows[row]), sim, sim - float(background[0]))
            if found:
                yield found
        for probe, (box, _) in enumerate(regions, start=1):
            for row, sim in zip(rows[probe].tolist(), sims[probe].tolist(), strict=True):
                margin = sim - float(background[probe])
                normalised = sim >= LearnedRule.region_floor and margin >= LearnedRule.region_margin
                if row < 0 or not (sim >= LearnedRule.region_cosine or normalised):
                    break
                distances = {"region_cosine": round(sim, 4), "margin": round(margin, 4)}
                yield int(self.rows[row]), "partial", sim, {**distances, "box": list(box)}

    def _whole(self, fp: Fingerprint, slot: int, sim: float, margin: float) -> Found | None:
        distances = {"cosine": round(sim, 4), "margin": round(margin, 4)}
        if sim >= LearnedRule.copy_cosine:
            return slot, "near", sim, distances
        if sim >= LearnedRule.whole_floor and margin >= LearnedRule.whole_margin:
            return slot, "derivative", sim, distances
        phash = _phash_in_best_orientation(fp, self.fingerprints[slot])
        if phash <= LearnedRule.derivative_phash:
            return slot, "derivative", sim, {**distances, "phash": phash}
        return None


def _phash_in_best_orientation(query: Fingerprint, art: Fingerprint) -> int:
    """pHash distance in the dihedral variant where the query's PDQ is closest to the work."""
    dist = np.bitwise_count(query.pdq_hashes ^ art.pdq_hashes[0]).sum(axis=1)
    variant = int(dist.argmin())
    return PHashFingerprint.distance(query.phash_variant(variant), art.phash_variant(0))
