"""Public path of the fingerprint API (DESIGN.md); the code lives in ``pipelines.engine``."""

from pipelines.engine.fingerprint import Fingerprint, fingerprint

__all__ = ["Fingerprint", "fingerprint"]
