"""Byte identity and a tight colour signature: how low-detail works are still found.

Soft gradients, minimal wallpapers and fine textures give PDQ too little structure to trust
(quality below its floor) and ORB too few corners, yet a repost of such a work unedited or
only resized must be found. Two signatures cover it: the SHA-256 of the bytes as posted (a
repost of the very file), and ``ColourLayout``, an 8x8 thumbnail of each colour channel,
which a resize or re-encode barely moves while PDQ and pHash, being greyscale, cannot tell two
gradients of the same direction but different colours apart. The index joins it to tight PDQ
and pHash distances (``pipelines.engine.index.Rule``).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import cv2
import numpy as np


class ContentDigest:
    """SHA-256 of the posted bytes (or of the pixels, for an in-memory picture)."""

    name: ClassVar[str] = "sha256"

    @staticmethod
    def of_bytes(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    @staticmethod
    def of_pixels(rgb: np.ndarray) -> bytes:
        shape = np.asarray(rgb.shape, dtype="<u4").tobytes()
        return hashlib.sha256(shape + np.ascontiguousarray(rgb).tobytes()).digest()

    @classmethod
    def to_field(cls, fp: Any) -> Any:
        return fp.digest.hex()

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {"digest": bytes.fromhex(value or "")}


class ColourLayout:
    """Each RGB channel area-averaged to 8x8 (192 bytes), compared by mean absolute difference."""

    name: ClassVar[str] = "colour"
    side: ClassVar[int] = 8
    size: ClassVar[int] = 8 * 8 * 3

    @classmethod
    def from_image(cls, thumb: np.ndarray) -> bytes:
        """From the 64x64 RGB thumbnail the fingerprint already makes for PDQ."""
        small = cv2.resize(thumb, (cls.side, cls.side), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(small, dtype=np.uint8).tobytes()

    @classmethod
    def distance(cls, a: bytes, b: bytes) -> float:
        """Mean absolute difference per value, 0..255; 255 when either is missing."""
        if len(a) != cls.size or len(b) != cls.size:
            return 255.0
        x = np.frombuffer(a, np.uint8).astype(np.int16)
        return float(np.abs(x - np.frombuffer(b, np.uint8)).mean())

    @classmethod
    def to_field(cls, fp: Any) -> Any:
        return fp.colour

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {"colour": bytes(value or b"")}
