"""Accuracy of the match engine: recall per edit family and false alarms on unrelated images.

Run ``python -m benchmarks.accuracy`` (test split, the acceptance table) or
``python -m benchmarks.accuracy --calibrate`` (calibration split: the distance and inlier
distributions the constants of ``pipelines.engine.index.Rule`` were read from). The two splits share
no image and no random seed: calibration uses generated artworks only (seeds 100000+), the
test split uses the real pictures bundled with scikit-image / scikit-learn / matplotlib plus
other generated artworks (seeds 1000+ and 5000+). Each portfolio work is edited once per
family (``benchmarks.edits``), saved as JPEG and fingerprinted from the bytes, exactly as a
crawled image is. Every distractor is queried once with a random edit; it is a false alarm if
it matches any portfolio work. Baselines: imagehash pHash alone (threshold read from the
calibration split at <= 0.5 % false alarms), PDQ alone and PDQ with dihedral variants (Meta's
threshold 31). Generated images are cached under ``benchmarks/.cache/``.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from benchmarks.corpus import CACHE, low_detail, procedural, real_images
from benchmarks.edits import DERIVATIVES, FAMILIES, LOW_DETAIL_FAMILIES
from pipelines.engine.descriptor import SscdDescriptor
from pipelines.engine.exact import ColourLayout
from pipelines.engine.fingerprint import Fingerprint, OrbFeatures, fingerprint
from pipelines.engine.index import PortfolioIndex, verify_features
from pipelines.engine.regions import RegionDescriptors
from pipelines.errors import ImageRejected

CACHE_VERSION = "v1"
# pHash-alone baseline threshold: the largest whose false alarms on the calibration split's
# distractors stay <= 0.5 % (printed by --calibrate: 14 gave 0.11 %, 16 and up more).
PHASH_BASELINE = 14
PDQ_BASELINE = 31
_EXCLUDED_REAL = {"skimage:motorcycle_right.png"}  # the stereo twin of motorcycle_left
# Low-detail works (gradients, minimal wallpapers, fine textures) in each split's portfolio,
# queried only as reposts (LOW_DETAIL_FAMILIES), and as many among its unrelated images.
LOW_DETAIL = 6


@dataclass
class Split:
    name: str
    portfolio: dict[str, Image.Image]
    distractors: dict[str, Image.Image]
    seed: int


def test_split(portfolio_size: int, distractors: int) -> Split:
    real = {k: v for k, v in sorted(real_images().items()) if k not in _EXCLUDED_REAL}
    names = list(real)
    own = {n: real[n] for n in names[0::2]}
    other = {n: real[n] for n in names[1::2]}
    for seed in range(1000, 1000 + portfolio_size - len(own)):
        own[f"gen:{seed}"] = _cached_procedural(seed)
    for seed in range(5000, 5000 + distractors - len(other) - 2 * LOW_DETAIL):
        other[f"gen:{seed}"] = _cached_procedural(seed)
    own.update(_low_detail(6000, LOW_DETAIL))
    other.update(_low_detail(7000, 2 * LOW_DETAIL))
    return Split("test", own, other, seed=7)


def calibration_split(portfolio_size: int, distractors: int) -> Split:
    own = {f"gen:{s}": _cached_procedural(s) for s in range(100_000, 100_000 + portfolio_size)}
    other = {
        f"gen:{s}": _cached_procedural(s)
        for s in range(200_000, 200_000 + distractors - 2 * LOW_DETAIL)
    }
    own.update(_low_detail(110_000, LOW_DETAIL))
    other.update(_low_detail(210_000, 2 * LOW_DETAIL))
    return Split("calibration", own, other, seed=11)


def _low_detail(start: int, count: int) -> dict[str, Image.Image]:
    return {f"low:{s}": _cached(s, low_detail) for s in range(start, start + count)}


def _cached_procedural(seed: int) -> Image.Image:
    return _cached(seed, procedural)


def _cached(seed: int, make) -> Image.Image:
    path = CACHE / CACHE_VERSION / "art" / f"{make.__name__}-{seed}.png"
    if make is procedural:  # the name generated images had before low-detail works
        path = path.with_name(f"{seed}.png")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make(seed).save(path)
    with Image.open(path) as image:
        return image.convert("RGB")


def queries(split: Split) -> list[tuple[str, str, bytes]]:
    """(family, true artwork or '', JPEG bytes): every work x family, then the distractors."""
    folder = CACHE / CACHE_VERSION / f"queries-{split.name}"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    families = list(FAMILIES)
    for w, (name, image) in enumerate(split.portfolio.items()):
        if name.startswith("low:"):
            for f, family in enumerate(LOW_DETAIL_FAMILIES):
                rng = np.random.default_rng([split.seed, w, 100 + f])
                out.append((family, name, _low_query(folder, name, family, image, rng)))
            continue
        for f, family in enumerate(families):
            rng = np.random.default_rng([split.seed, w, f])
            out.append((family, name, _edited(folder, name, family, image, rng)))
    for d, (name, image) in enumerate(split.distractors.items()):
        rng = np.random.default_rng([split.seed, 10_000 + d])
        family = families[int(rng.integers(0, len(families)))]
        out.append(("distractor", "", _edited(folder, name, family, image, rng)))
    return out


def _low_query(folder: Path, name: str, family: str, image, rng) -> bytes:
    if LOW_DETAIL_FAMILIES[family] is None:
        return _png(image)  # the very file that was enrolled
    return _edited(folder, name, family, image, rng, LOW_DETAIL_FAMILIES[family])


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _edited(folder: Path, name: str, family: str, image, rng, edit=None) -> bytes:
    path = folder / f"{name.replace(':', '_').replace('/', '_')}__{family}.jpg"
    if not path.exists():
        edited = (edit or FAMILIES[family])(image, rng)
        quality = 100 if family == "jpeg20-50" else 90  # the edit already compressed it
        buffer = io.BytesIO()
        edited.convert("RGB").save(buffer, "JPEG", quality=quality)
        path.write_bytes(buffer.getvalue())
    return path.read_bytes()


class Baselines:
    """pHash alone, PDQ alone and PDQ with dihedral variants, on the plain decoded image."""

    def __init__(self, portfolio: dict[str, Image.Image]):
        self.names = list(portfolio)
        self.phash = np.array([self._phash(im) for im in portfolio.values()])
        self.pdq = np.array([self._pdq(im)[0] for im in portfolio.values()])

    @staticmethod
    def _phash(image: Image.Image) -> np.ndarray:
        return imagehash.phash(image).hash.ravel()

    @staticmethod
    def _pdq(image: Image.Image) -> np.ndarray:
        image = image.convert("RGB")
        image.thumbnail((512, 512))  # the PDQ reference's advice for speed
        hashes, _ = pdqhash.compute_dihedral(np.asarray(image))
        return np.array(hashes)

    def distances(self, data: bytes) -> dict[str, np.ndarray]:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
            ph = (self.phash != self._phash(image)).sum(axis=1)
            pdq = self._pdq(image)
        straight = (self.pdq != pdq[0]).sum(axis=1)
        dihedral = (self.pdq[:, None, :] != pdq[None, :, :]).sum(axis=2).min(axis=1)
        return {"phash": ph, "pdq": straight, "pdq_dihedral": dihedral}

    def matched(self, dist: dict[str, np.ndarray]) -> dict[str, set[str]]:
        limits = {"phash": PHASH_BASELINE, "pdq": PDQ_BASELINE, "pdq_dihedral": PDQ_BASELINE}
        return {
            key: {self.names[i] for i in np.flatnonzero(dist[key] <= limit)}
            for key, limit in limits.items()
        }


def run(split: Split) -> None:
    started = time.perf_counter()
    index = PortfolioIndex()
    for name, image in split.portfolio.items():
        index.add(name, fingerprint(_png(image)))
    baselines = Baselines(split.portfolio)
    columns = ("engine", "phash", "pdq", "pdq_dihedral")
    hits: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(columns, 0))
    counts: dict[str, int] = defaultdict(int)
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    false_images = dict.fromkeys(columns, 0)
    false_pairs = dict.fromkeys(columns, 0)
    wrong_on_positives = 0
    false_kinds: dict[str, int] = defaultdict(int)
    false_examples: list = []
    rejected: dict[str, int] = defaultdict(int)
    for family, truth, data in queries(split):
        counts[family] += 1
        found = baselines.matched(baselines.distances(data))
        try:
            matches = index.search(fingerprint(data))
        except ImageRejected as exc:
            rejected[exc.reason] += 1
            matches = []
        found["engine"] = {m.artwork_id for m in matches}
        if truth:
            for column in columns:
                hits[family][column] += truth in found[column]
            for m in matches:
                if m.artwork_id == truth:
                    kinds[family][m.kind] += 1
            wrong_on_positives += bool(found["engine"] - {truth})
        else:
            for column in columns:
                false_images[column] += bool(found[column])
                false_pairs[column] += len(found[column])
            for m in matches:
                false_kinds[m.kind] += 1
            if matches:
                evidence = [(m.artwork_id, m.kind, m.distances) for m in matches]
                false_examples.append((family, evidence))
    _print_table(split, hits, counts, kinds, columns)
    n_distractors = counts["distractor"]
    pairs = n_distractors * len(split.portfolio)
    print(f"\nunrelated images: {n_distractors}, portfolio works: {len(split.portfolio)}")
    print("| false alarms | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    print(
        "| images (rate) | "
        + " | ".join(f"{false_images[c]} ({false_images[c] / n_distractors:.3%})" for c in columns)
        + " |"
    )
    print(
        "| pairs (rate) | "
        + " | ".join(f"{false_pairs[c]} ({false_pairs[c] / pairs:.4%})" for c in columns)
        + " |"
    )
    print(f"false-alarm matches by kind: {dict(false_kinds) or 'none'}")
    for example in false_examples[:10]:
        print("  false alarm:", example)
    print(f"\nedited portfolio images that also matched a wrong work: {wrong_on_positives}")
    print(f"refused by fingerprint(): {dict(rejected) or 'none'}")
    print(f"time: {time.perf_counter() - started:.0f} s")


def _print_table(split, hits, counts, kinds, columns) -> None:
    print(f"\n## {split.name} split: {len(split.portfolio)} portfolio works\n")
    print("| family | n | engine | exact/near/partial/derivative | pHash | PDQ | PDQ+dihedral |")
    print("|---|---|---|---|---|---|---|")
    groups = {"copies": [], "derivatives": []}
    for family in [*FAMILIES, *LOW_DETAIL_FAMILIES]:
        groups["derivatives" if family in DERIVATIVES else "copies"].append(family)
    for group, families in groups.items():
        totals = dict.fromkeys(columns, 0)
        n_total = 0
        for family in families:
            n = counts[family]
            if not n:
                continue
            n_total += n
            k = kinds[family]
            cells = []
            for c in columns:
                totals[c] += hits[family][c]
                cells.append(f"{hits[family][c] / n:.2f}")
            split_kinds = f"{k['exact']}/{k['near']}/{k['partial']}/{k['derivative']}"
            print(
                f"| {family} | {n} | {cells[0]} | {split_kinds} | " + " | ".join(cells[1:]) + " |"
            )
        if n_total:
            cells = [f"**{totals[c] / n_total:.3f}**" for c in columns]
            label = "overall" if group == "copies" else "derivatives"
            print(f"| {label} | {n_total} | {cells[0]} | | " + " | ".join(cells[1:]) + " |")


def calibrate(split: Split) -> None:
    """Print the raw evidence on the calibration split that Rule's constants come from."""
    entries = {}
    for name, image in split.portfolio.items():
        entries[name] = fingerprint(_png(image))
    baselines = Baselines(split.portfolio)
    pos, neg = defaultdict(list), defaultdict(list)
    for family, truth, data in queries(split):
        try:
            query = fingerprint(data)
        except ImageRejected:
            continue
        base = baselines.distances(data)
        for i, (name, art) in enumerate(entries.items()):
            row = _pair_evidence(query, art)
            row["phash_baseline"] = int(base["phash"][i])
            row["query_family"], row["query_truth"], row["artwork"] = family, truth, name
            (pos if name == truth else neg)[family if name == truth else "all"].append(row)
    evidence = CACHE / f"evidence-{split.name}.json"
    evidence.write_text(json.dumps({"pos": pos, "neg": neg}))
    print(f"pair evidence written to {evidence}")
    negatives = neg["all"]
    for key in ("pdq", "phash_same_variant", "inliers", "phash_baseline", "region_pdq"):
        values = np.array([r[key] for r in negatives])
        print(
            f"negatives {key}: min {values.min()} p0.1 {np.percentile(values, 0.1):.1f} "
            f"max {values.max()} (pairs {len(values)})"
        )
    for key in ("cos", "region_cos"):
        values = np.array([r[key] for r in negatives])
        top = np.sort(values)[-5:]
        print(
            f"negatives {key}: p99 {np.percentile(values, 99):.3f} p99.9 "
            f"{np.percentile(values, 99.9):.3f} top5 {np.round(top, 3).tolist()}"
        )
    distractors = [r for r in negatives if not r["query_truth"]]
    per_image = (
        np.array([max(r["cos"], r["region_cos"]) for r in distractors])
        .reshape(-1, len(split.portfolio))
        .max(axis=1)
    )
    quantiles = (0.5, 0.9, 0.99, 0.995, 1.0)
    print(
        "unrelated images: best cosine (whole or region) over the portfolio at quantiles",
        {q: round(float(np.quantile(per_image, q)), 3) for q in quantiles},
    )
    inliers = np.array([r["inliers"] for r in negatives])
    print("negatives with >= k inliers:", {k: int((inliers >= k).sum()) for k in range(6, 16)})
    rate = _per_image_false_alarms(split, neg)
    print("pHash baseline: threshold -> false-alarm image rate:", rate)
    for family, rows in pos.items():
        pdq = np.array([r["pdq"] for r in rows])
        inl = np.array([r["inliers"] for r in rows])
        ph = np.array([r["phash_same_variant"] for r in rows])
        cos = np.array([r["cos"] for r in rows])
        rcos = np.array([r["region_cos"] for r in rows])
        colour = np.array([r["colour"] for r in rows])
        print(
            f"{family:15s} pdq<=31 {np.mean(pdq <= 31):.2f}  pdq med {np.median(pdq):5.1f}  "
            f"phash med {np.median(ph):4.1f}  inl>=14 {np.mean(inl >= 14):.2f}  "
            f"cos p10/med {np.percentile(cos, 10):.2f}/{np.median(cos):.2f}  "
            f"rcos p10/med {np.percentile(rcos, 10):.2f}/{np.median(rcos):.2f}  "
            f"colour max {colour.max():.1f}"
        )


def _per_image_false_alarms(split: Split, neg) -> dict[int, float]:
    distractors = [r for r in neg["all"] if not r["query_truth"]]
    per_image = np.array([r["phash_baseline"] for r in distractors]).reshape(
        -1, len(split.portfolio)
    )
    return {t: round(float(np.mean(per_image.min(axis=1) <= t)), 4) for t in range(4, 22, 2)}


def _pair_evidence(query: Fingerprint, art: Fingerprint) -> dict[str, int]:
    q = query.pdq_hashes
    a = art.pdq_hashes[0]
    d = np.bitwise_count(q ^ a).sum(axis=1)
    variant = int(d.argmin())
    ph = np.bitwise_count(
        np.frombuffer(query.phash_variant(variant), np.uint8)
        ^ np.frombuffer(art.phash_variant(0), np.uint8)
    ).sum()
    art_xy, art_desc = OrbFeatures.positions(art.orb_xy), OrbFeatures.descriptors(art.orb_desc)
    inliers = max(  # as posted and mirrored, as the index verifies
        verify_features(
            OrbFeatures.positions(xy), OrbFeatures.descriptors(desc), art_xy, art_desc
        ).inliers
        for xy, desc in (
            (query.orb_xy, query.orb_desc),
            (query.orb_mirror_xy, query.orb_mirror_desc),
        )
    )
    region_pdq, region_phash = 256, 64
    for pdq, phash in query.usable_regions():
        rd = int(np.bitwise_count(np.frombuffer(pdq, np.uint8) ^ a).sum())
        if rd < region_pdq:
            region_pdq = rd
            region_phash = int(
                np.bitwise_count(
                    np.frombuffer(phash, np.uint8) ^ np.frombuffer(art.phash_variant(0), np.uint8)
                ).sum()
            )
    regions = RegionDescriptors.unpack(query.proposals)
    return {
        "pdq": int(d[variant]),
        "phash_same_variant": int(ph),
        "inliers": inliers,
        "region_pdq": region_pdq,
        "region_phash": region_phash,
        "cos": SscdDescriptor.similarity(query.descriptor, art.descriptor),
        "region_cos": max(
            [SscdDescriptor.similarity(v, art.descriptor) for _, v in regions], default=0.0
        ),
        "colour": ColourLayout.distance(query.colour, art.colour),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibrate", action="store_true", help="print calibration evidence")
    parser.add_argument(
        "--calibration-recall",
        action="store_true",
        help="the recall table on the calibration split (to choose engine parameters)",
    )
    parser.add_argument("--portfolio", type=int, default=56, help="portfolio works")
    parser.add_argument("--distractors", type=int, default=300, help="unrelated images")
    args = parser.parse_args()
    if args.calibrate or args.calibration_recall:
        split = calibration_split(min(args.portfolio, 40), min(args.distractors, 200))
        (calibrate if args.calibrate else run)(split)
    else:
        run(test_split(args.portfolio, args.distractors))


if __name__ == "__main__":
    main()
