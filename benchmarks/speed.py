"""Speed of the match engine: fingerprints per second, and index lookups at portfolio scale.

Run ``python -m benchmarks.speed`` (add ``--full`` for 1M-entry partial data and a 10M
whole-image index). Part 1 fingerprints 1-4 megapixel JPEGs and PNGs (generated artworks,
cached under ``benchmarks/.cache/``) on one core with ``fingerprint(bytes)`` -- decode and
every part the decision rule needs -- against ``imagehash.phash(Image.open(f))`` on the same
files in the same run. Part 2 times ``HammingIndex.within`` (the whole-image path: eight
dihedral PDQ queries, radius 31) over synthesised uniformly random 256-bit codes, and
``PortfolioIndex.search`` (both paths, partial verification included) over a portfolio of
real fingerprints padded with synthesised random ORB descriptors. Random codes spread over
buckets more evenly than real ones, so real collections will see somewhat more candidates.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from functools import partial

import cv2
import imagehash
import numpy as np
from PIL import Image

from benchmarks.corpus import CACHE, procedural
from benchmarks.edits import FAMILIES
from pipelines.engine.ann import DescriptorIndex, faiss
from pipelines.engine.descriptor import model_status
from pipelines.engine.fingerprint import Fingerprint, OrbFeatures, PdqFingerprint, fingerprint
from pipelines.engine.index import HammingIndex, PortfolioIndex, Rule

SIZES = ((1200, 900), (1600, 1200), (2000, 1500), (2300, 1700))


def _files() -> list[tuple[str, bytes]]:
    folder = CACHE / "speed"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (w, h) in enumerate(SIZES * 2):
        for fmt in ("JPEG", "PNG"):
            path = folder / f"{i}.{fmt.lower()}"
            if not path.exists():
                image = procedural(300_000 + i).resize((w, h))
                image.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            out.append((fmt, str(path)))
    return out


def _rate(fn, paths: list[str], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for path in paths:
            fn(path)
    return rounds * len(paths) / (time.perf_counter() - started)


def _composites() -> list[tuple[str, str]]:
    """App screenshots, grids and side-by-side posts as JPEGs: the pictures that get region
    proposals described, reported on their own line."""
    folder = CACHE / "speed"
    out = []
    for i, family in enumerate(("app_screenshot", "grid3x3", "side_by_side", "on_photo") * 2):
        path = folder / f"composite-{i}.jpg"
        if not path.exists():
            edited = FAMILIES[family](procedural(310_000 + i), np.random.default_rng(i))
            edited.convert("RGB").save(path, "JPEG", quality=90)
        out.append(("composite", str(path)))
    return out


def fingerprint_speed(rounds: int) -> None:
    files = _files() + _composites()
    descriptor = model_status() or "on"
    print(f"\n## Fingerprinting, one core (images/s); learned descriptor: {descriptor}\n")
    print("| files | n | naive phash(Image.open(f)) | fingerprint(bytes) | ratio |")
    print("|---|---|---|---|---|")
    for fmt in ("JPEG", "PNG", "all", "composite"):
        paths = [p for f, p in files if fmt == f or (fmt == "all" and f != "composite")]
        naive = _rate(lambda p: imagehash.phash(Image.open(p)), paths, rounds)
        ours = _rate(lambda p: fingerprint(_read(p)), paths, rounds)
        label = "composite JPEG" if fmt == "composite" else f"{fmt} 1-4 MP"
        print(f"| {label} | {len(paths)} | {naive:.1f} | {ours:.1f} | {ours / naive:.2f}x |")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def hamming_speed(sizes: list[int], queries: int) -> None:
    rng = np.random.default_rng(1)
    print("\n## Whole-image lookup: 8 dihedral PDQ queries within 31 bits, one core\n")
    print("| entries | structure | lookups/s | p50 ms | p99 ms | bytes/entry | build s |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        started = time.perf_counter()
        index = HammingIndex(codes)
        build = time.perf_counter() - started
        probes = []
        for i in rng.integers(0, n, queries):
            bits = np.unpackbits(codes[i])
            bits[rng.choice(256, int(rng.integers(0, 31)), replace=False)] ^= 1
            variants = rng.integers(0, 256, (8, 32), dtype=np.uint8)
            variants[int(rng.integers(0, 8))] = np.packbits(bits)
            probes.append(variants)
        times = _time_each(partial(index.within, radius=PdqFingerprint.threshold), probes)
        found = sum(len(index.within(q, PdqFingerprint.threshold)[0]) >= 1 for q in probes[:50])
        assert found == min(50, len(probes)), "a planted neighbour was missed"
        kind = "multi-index" if n >= HammingIndex.scan_below else "scan"
        print(
            f"| {n:,} | {kind} | {1 / statistics.mean(times):,.0f} | "
            f"{1000 * statistics.median(times):.3f} | {1000 * np.percentile(times, 99):.3f} | "
            f"{index.nbytes / n:.0f} | {build:.1f} |"
        )


def descriptor_speed(sizes: list[int], queries: int) -> None:
    rng = np.random.default_rng(2)
    print("\n## Learned-descriptor lookup: 1 whole + 9 region queries, 16 nearest, one core\n")
    print("| entries | structure | lookups/s | p50 ms | p99 ms | found | bytes/entry | build s |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        codes = rng.integers(-127, 128, (n, DescriptorIndex.dims), dtype=np.int8)
        for use_faiss in (False, True):
            started = time.perf_counter()
            try:
                index = DescriptorIndex(codes, use_faiss=use_faiss)
            except Exception as exc:  # faiss not installed
                print(f"| {n:,} | faiss | {type(exc).__name__} | | | | |")
                continue
            build = time.perf_counter() - started
            probes, planted = [], rng.integers(0, n, queries)
            for i in planted:
                probe = rng.normal(0, 1, (10, DescriptorIndex.dims)).astype(np.float32)
                probe[0] = codes[i] + rng.normal(0, 20, DescriptorIndex.dims)
                probes.append(probe / np.linalg.norm(probe, axis=1, keepdims=True))
            times = _time_each(partial(index.nearest, k=DescriptorIndex.neighbours), probes)
            found = sum(
                int(i) in index.nearest(p[:1], 1)[0] for i, p in zip(planted, probes, strict=True)
            )
            kind = "int8 scan" if index._faiss is None else type(index._faiss).__name__
            print(
                f"| {n:,} | {kind} | {1 / statistics.mean(times):,.0f} | "
                f"{1000 * statistics.median(times):.2f} | {1000 * np.percentile(times, 99):.2f} | "
                f"{found}/{len(probes)} | {index.nbytes / n:.0f} | {build:.1f} |"
            )


def _time_each(fn, items) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - started)
    return times


def portfolio_speed(sizes: list[int], queries: int) -> None:
    print("\n## Full search (whole image + partial with verification), one core\n")
    print("| artworks | real | lookups/s | p50 ms | p99 ms | found | MB in index | build s |")
    print("|---|---|---|---|---|---|---|---|")
    real = {f"real{s}": procedural(400_000 + s) for s in range(20)}
    real_fp = {k: fingerprint(_png(v)) for k, v in real.items()}
    edits = [FAMILIES[f] for f in ("screenshot", "crop25", "meme", "emoji", "text", "resize")]
    rng = np.random.default_rng(3)
    probes = []
    for i in range(queries):
        name = f"real{i % len(real)}"
        edited = edits[i % len(edits)](real[name], rng).convert("RGB")
        buffer = io.BytesIO()
        edited.save(buffer, "JPEG", quality=85)
        probes.append((name, fingerprint(buffer.getvalue())))
    for n in sizes:
        index = PortfolioIndex()
        for name, fp in real_fp.items():
            index.add(name, fp)
        for i in range(n - len(real_fp)):
            index.add(f"synthetic{i}", _synthetic(rng))
        started = time.perf_counter()
        index.search(probes[0][1])  # builds the structures
        build = time.perf_counter() - started
        times = _time_each(index.search, [fp for _, fp in probes])
        found = sum(any(m.artwork_id == name for m in index.search(fp)) for name, fp in probes)
        snap = index._current()
        mbytes = (snap.hamming.nbytes + snap.features.nbytes + snap.learned.nbytes) / 1e6
        print(
            f"| {n:,} | {len(real_fp)} | {1 / statistics.mean(times):,.0f} | "
            f"{1000 * statistics.median(times):.1f} | {1000 * np.percentile(times, 99):.1f} | "
            f"{found}/{len(probes)} | {mbytes:,.0f} | {build:.1f} |"
        )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _synthetic(rng: np.random.Generator) -> Fingerprint:
    n = OrbFeatures.max_features
    xy = (rng.uniform(0, 512, (n, 2)) * 16).astype("<u2").tobytes()
    return Fingerprint(
        pdq=rng.bytes(PdqFingerprint.size * PdqFingerprint.variants),
        pdq_quality=100,
        phash=rng.bytes(64),
        orb_xy=xy,
        orb_desc=rng.bytes(n * OrbFeatures.size),
        width=512,
        height=512,
        descriptor=rng.integers(-127, 128, DescriptorIndex.dims, dtype=np.int8).tobytes(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also 10M codes and 100k artworks")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the files")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # per-core figures
    if faiss is not None:
        faiss.omp_set_num_threads(1)
    print(f"Rule: PDQ <= {Rule.pdq_near}, inliers >= {Rule.min_inliers}")
    fingerprint_speed(args.rounds)
    hamming_speed([10_000, 100_000, 1_000_000] + ([10_000_000] if args.full else []), 300)
    descriptor_speed([10_000, 100_000, 1_000_000], 50)
    portfolio_speed([1_000, 10_000] + ([100_000] if args.full else []), 60)


if __name__ == "__main__":
    main()
