"""The learned descriptor: model loading and its failures, storage, staleness, the ANN index."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from artwatch.samples import artwork, encode
from pipelines.engine import descriptor
from pipelines.engine.ann import DescriptorIndex
from pipelines.engine.descriptor import SscdDescriptor
from pipelines.engine.fingerprint import Fingerprint, fingerprint
from pipelines.engine.learned import LearnedRule

needs_model = pytest.mark.skipif(
    descriptor.model_status() is not None, reason="the descriptor model is not installed"
)


@pytest.fixture(scope="module")
def art_fp() -> Fingerprint:
    return fingerprint(encode(artwork(3, (720, 540)), "PNG"))


@needs_model
def test_descriptor_is_512_int8_values_and_survives_a_repost(art_fp):
    assert len(art_fp.descriptor) == SscdDescriptor.dims
    small = artwork(3, (720, 540)).resize((360, 270))
    repost = fingerprint(encode(small, quality=60))
    assert SscdDescriptor.similarity(repost.descriptor, art_fp.descriptor) > 0.9


@needs_model
def test_unrelated_artworks_are_below_the_copy_threshold(art_fp):
    for seed in (4, 5, 6):
        other = fingerprint(encode(artwork(seed, (720, 540))))
        similarity = SscdDescriptor.similarity(other.descriptor, art_fp.descriptor)
        assert similarity < LearnedRule.copy_cosine


def test_missing_model_turns_the_descriptor_off_with_one_line(tmp_path, caplog):
    model = descriptor._Model(tmp_path / "sscd_distilled.onnx")
    with caplog.at_level(logging.WARNING, logger="pipelines.engine.descriptor"):
        assert model.session() is None
        assert model.status() == model.status() == model.problem
    assert str(tmp_path / "sscd_distilled.onnx") in model.problem
    assert "pip install" in model.problem
    assert len(caplog.records) == 1


def test_corrupt_model_file_is_named_in_the_error(tmp_path, caplog):
    broken = tmp_path / "sscd_distilled.onnx"
    broken.write_bytes(b"\x08\x07this is not an onnx graph" * 100)
    model = descriptor._Model(broken)
    with caplog.at_level(logging.WARNING, logger="pipelines.engine.descriptor"):
        assert model.status() is not None
    assert f"cannot load the model file {broken}" in model.problem
    assert len(caplog.records) == 1


def test_fingerprint_without_the_model_still_has_every_other_part(monkeypatch, tmp_path):
    monkeypatch.setattr(descriptor, "_model", descriptor._Model(tmp_path / "missing.onnx"))
    fp = fingerprint(encode(artwork(3, (720, 540))))
    assert fp.descriptor == b"" and fp.proposals == b""
    assert fp.pdq_usable and fp.feature_count > 0


@needs_model
def test_stored_descriptor_round_trips(art_fp):
    assert Fingerprint.from_document(art_fp.to_document()) == art_fp


@pytest.mark.parametrize(
    "stored",
    [
        {"model": "sscd_distilled", "version": 0, "vector": bytes(512)},  # older version
        {"model": "sscd", "version": 1, "vector": bytes(512)},  # another model
        {"model": "sscd_distilled", "version": 1, "vector": bytes(256)},  # wrong length
        None,
    ],
)
def test_stale_stored_descriptor_is_dropped_never_compared(art_fp, stored):
    document = art_fp.to_document()
    document["sscd"] = stored
    document["proposals"] = {"model": "sscd", "version": 1, "records": b"x" * 520}
    restored = Fingerprint.from_document(document)
    assert restored.descriptor == b"" and restored.proposals == b""
    assert SscdDescriptor.similarity(restored.descriptor, art_fp.descriptor) == 0.0


def test_scan_and_faiss_find_the_same_rows():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(5)
    codes = rng.integers(-127, 128, (3000, 512)).astype(np.int8)
    queries = codes[[10, 2000]].astype(np.float32)
    queries[1] += rng.normal(0, 30, 512).astype(np.float32)  # a noisy copy of row 2000
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scan = DescriptorIndex(codes, use_faiss=False)
    flat = DescriptorIndex(codes, use_faiss=True)
    for index in (scan, flat):
        rows, sims, which = index.above(queries, 0.5)
        assert rows.tolist() == [10, 2000]
        assert which.tolist() == [0, 1]
        assert sims[0] > 0.99
    assert flat.nbytes < 600 * len(codes)  # 512 bytes of codes per artwork, plus norms
