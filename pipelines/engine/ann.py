"""Nearest learned descriptors by cosine similarity: a plain int8 matrix scan, or faiss.

Every artwork's SSCD descriptor is kept as its 512 int8 values (512 bytes) plus the inverse
of its norm (4 bytes). Below ``DescriptorIndex.scan_below`` artworks a query is a blocked
matrix product over the int8 rows; from there, when faiss-cpu is installed, the unit vectors
go into a faiss scalar-quantised index (8 bits per value, 512 bytes per artwork): a flat
SIMD scan, then beyond ``ivf_above`` an inverted file (k-means cells, ``nprobe`` of them
searched), which keeps a lookup at 1M artworks in milliseconds (benchmarks/speed.py). Without
faiss the scan is used at any size (the same answers, slower).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

try:
    import faiss
except ImportError:  # optional: the plain scan answers the same questions
    faiss = None


class DescriptorIndex:
    """Rows whose cosine similarity with a query reaches a threshold."""

    dims: ClassVar[int] = 512
    # Measured by benchmarks/speed.py (descriptor lookups, 10 queries each, one core): at 10k
    # rows the scan took 11 ms and faiss's flat SQ8 6 ms; at 200k 300 ms both, hence the
    # inverted file beyond ivf_above.
    scan_below: ClassVar[int] = 2_000
    ivf_above: ClassVar[int] = 50_000
    nprobe: ClassVar[int] = 24
    # faiss answers the best ``neighbours`` rows per query; a threshold search needs no more
    # (a query matches a handful of works, never dozens).
    neighbours: ClassVar[int] = 16
    _block: ClassVar[int] = 1 << 15

    def __init__(self, codes: np.ndarray, *, use_faiss: bool | None = None):
        self.codes = np.ascontiguousarray(codes, dtype=np.int8).reshape(-1, self.dims)
        norms = np.linalg.norm(self.codes.astype(np.float32), axis=1)
        self.inverse = (1 / np.maximum(norms, 1e-6)).astype(np.float32)
        wanted = len(self.codes) >= self.scan_below if use_faiss is None else use_faiss
        self._faiss = self._build_faiss() if wanted and faiss is not None else None
        if self._faiss is not None:
            self.codes = self.codes[:0]  # faiss holds the only copy

    def __len__(self) -> int:
        return len(self.inverse)

    @property
    def nbytes(self) -> int:
        held = self._faiss.sa_code_size() * self._faiss.ntotal if self._faiss else 0
        return self.codes.nbytes + self.inverse.nbytes + held

    def _build_faiss(self):
        qt, ip = faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        if len(self.codes) >= self.ivf_above:
            cells = int(len(self.codes) ** 0.5)
            self._quantizer = faiss.IndexFlatIP(self.dims)  # kept alive beside the index
            index = faiss.IndexIVFScalarQuantizer(self._quantizer, self.dims, cells, qt, ip)
            index.nprobe = self.nprobe
            rng = np.random.default_rng(0)
            picked = np.sort(rng.permutation(len(self.codes))[: 40 * cells])
            sample = self.codes[picked].astype(np.float32) * self.inverse[picked, None]
        else:
            index = faiss.IndexScalarQuantizer(self.dims, qt, ip)
            sample = self._unit(slice(0, min(len(self.codes), 100_000)))
        index.train(sample)
        for start in range(0, len(self.codes), self._block):
            index.add(self._unit(slice(start, start + self._block)))
        return index

    def _unit(self, rows: slice) -> np.ndarray:
        return self.codes[rows].astype(np.float32) * self.inverse[rows, None]

    def above(self, queries: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
        """(rows, similarities, query numbers): the rows at least ``threshold`` similar to
        some query (at most ``neighbours`` per query, the most similar), each with its best
        similarity and the query that reached it."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dims)
        if not len(self) or not len(queries):
            empty = np.empty(0, dtype=np.int64)
            return empty, np.empty(0, dtype=np.float32), empty
        sims = self._faiss_sims(queries) if self._faiss else self._scan(queries, threshold)
        rows, which, values = sims
        keep = values >= threshold
        rows, which, values = rows[keep], which[keep], values[keep]
        order = np.lexsort((-values, which))  # per query, most similar first
        rows, which, values = rows[order], which[order], values[order]
        starts = np.searchsorted(which, which, side="left")
        best = (np.arange(len(which)) - starts) < self.neighbours
        rows, which, values = rows[best], which[best], values[best]
        order = np.lexsort((-values, rows))
        rows, which, values = rows[order], which[order], values[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        return rows[first], values[first], which[first]

    def nearest(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, similarities), each (queries, k), most similar first; rows of -1 and
        similarities of -1 pad when fewer than ``k`` are indexed."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dims)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        sims = np.full((len(queries), k), -1.0, dtype=np.float32)
        if not len(self) or not len(queries):
            return rows, sims
        if self._faiss is not None:
            found_sims, found_rows = self._faiss.search(queries, min(k, len(self)))
            rows[:, : found_rows.shape[1]] = found_rows
            sims[:, : found_sims.shape[1]] = found_sims
            return rows, sims
        for start in range(0, len(self.codes), self._block):
            block = self.codes[start : start + self._block].astype(np.float32)
            scores = (block @ queries.T).T * self.inverse[start : start + len(block)]
            block_rows = np.broadcast_to(start + np.arange(len(block)), scores.shape)
            both_rows = np.concatenate([rows, block_rows], axis=1)
            both_sims = np.concatenate([sims, scores], axis=1)
            best = np.argpartition(-both_sims, k - 1, axis=1)[:, :k]
            rows = np.take_along_axis(both_rows, best, axis=1)
            sims = np.take_along_axis(both_sims, best, axis=1)
        order = np.argsort(-sims, axis=1, kind="stable")
        return np.take_along_axis(rows, order, axis=1), np.take_along_axis(sims, order, axis=1)

    def _scan(self, queries: np.ndarray, threshold: float):
        found_rows, found_which, found_values = [], [], []
        for start in range(0, len(self.codes), self._block):
            block = self.codes[start : start + self._block].astype(np.float32)
            sims = (block @ queries.T) * self.inverse[start : start + len(block), None]
            rows, which = np.nonzero(sims >= threshold)
            found_rows.append(rows + start)
            found_which.append(which)
            found_values.append(sims[rows, which])
        return np.concatenate(found_rows), np.concatenate(found_which), np.concatenate(found_values)

    def _faiss_sims(self, queries: np.ndarray):
        k = min(self.neighbours, len(self))
        values, rows = self._faiss.search(queries, k)
        which = np.repeat(np.arange(len(queries)), k)
        rows, values = rows.ravel(), values.ravel()
        valid = rows >= 0
        return rows[valid].astype(np.int64), which[valid], values[valid]
