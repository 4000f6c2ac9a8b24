"""Fingerprinting workers: a CPU-time budget per image, a memory limit per worker, and a
killed worker costing only its own image."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from pipelines.engine.decode import MAX_SCANS
from pipelines.stages.images import DEFAULT_CPU_SECONDS, DEFAULT_MEMORY_MB, analyse, make_pool
from pipelines.stages.workers import WorkerDied
from tests.crawlcase import jpeg, portfolio_image
from tests.hostile_images import big_rgba_png, scan_bomb

# Growth of a worker's peak RSS while it analyses a 49 MP RGBA PNG: its decoded pixels are
# 196 MB and cannot be avoided (PNG has no reduced-size decoding); compositing the whole
# picture on white at once added two more full-size copies (+607 MB measured).
PNG_PEAK_GROWTH_MB = 320


def peak_rss_mb(pool) -> float:
    """The worker's own high-water mark of resident memory (the kernel's, not a sample)."""
    return pool.submit(resource.getrusage, resource.RUSAGE_SELF).result().ru_maxrss / 1024


def data_mb(pool) -> float:
    status = pool.submit(Path("/proc/self/status").read_text).result()
    [line] = [line for line in status.splitlines() if line.startswith("VmData:")]
    return int(line.split()[1]) / 1024


def test_a_worker_over_its_cpu_budget_is_replaced_and_only_its_image_fails():
    bomb = scan_bomb(7000, MAX_SCANS - 1)  # under the scan limit, seconds of CPU to decode
    pool = make_pool("process", 2, cpu_seconds=1.0, memory_mb=DEFAULT_MEMORY_MB)
    try:
        bombed = pool.submit(analyse, bomb)
        ordinary = pool.submit(analyse, jpeg(portfolio_image(3)))
        with pytest.raises(WorkerDied) as died:
            bombed.result()
        assert died.value.reason == "decode_timeout"
        assert "fingerprint" in ordinary.result()
        after = [pool.submit(analyse, jpeg(portfolio_image(4 + n))) for n in range(4)]
        assert all("fingerprint" in future.result() for future in after)
    finally:
        pool.shutdown()


def test_a_worker_that_crashes_costs_only_its_task():
    pool = make_pool("process", 1, DEFAULT_CPU_SECONDS, DEFAULT_MEMORY_MB)
    try:
        with pytest.raises(WorkerDied) as died:
            pool.submit(os._exit, 3).result()  # as a segfaulting decoder would
        assert died.value.reason == "worker_crashed" and "exit code 3" in str(died.value)
        assert "fingerprint" in pool.submit(analyse, jpeg(portfolio_image(3))).result()
    finally:
        pool.shutdown()


def test_a_worker_decoding_a_49_mp_rgba_png_peaks_within_its_bound():
    png = big_rgba_png()
    pool = make_pool("process", 1, DEFAULT_CPU_SECONDS, DEFAULT_MEMORY_MB)
    try:
        assert "fingerprint" in pool.submit(analyse, jpeg(portfolio_image(3))).result()
        before = peak_rss_mb(pool)  # libraries and the descriptor model loaded
        result = pool.submit(analyse, png).result()
        growth = peak_rss_mb(pool) - before
    finally:
        pool.shutdown()
    assert result["width"] == 7000 and "fingerprint" in result
    assert growth < PNG_PEAK_GROWTH_MB, f"peak RSS grew {growth:.0f} MB"


def test_a_worker_at_its_memory_limit_refuses_the_image_and_keeps_working():
    png = big_rgba_png()
    probe = make_pool("process", 1)
    try:
        probe.submit(analyse, jpeg(portfolio_image(3))).result()
        loaded = data_mb(probe)
    finally:
        probe.shutdown()
    # Room for ordinary images, not for the PNG's 196 MB of pixels.
    pool = make_pool("process", 1, DEFAULT_CPU_SECONDS, memory_mb=int(loaded) + 100)
    try:
        assert "fingerprint" in pool.submit(analyse, jpeg(portfolio_image(3))).result()
        assert pool.submit(analyse, png).result()["rejected"] == "out_of_memory"
        assert "fingerprint" in pool.submit(analyse, jpeg(portfolio_image(4))).result()
    finally:
        pool.shutdown()
