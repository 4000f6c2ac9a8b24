"""The exception tree of ArtWatch, in one place::

    ArtWatchError                 anything ArtWatch raises on purpose
    ├── ConfigError               a setting or config/sources.yaml is wrong: names the key
    ├── StoreUnavailable          MongoDB cannot be reached: names MONGODB_URI
    ├── FetchError                a platform or an image URL answered badly
    │   └── PrivateAddressError   a URL points at a private, loopback or link-local host
    ├── ImageRejected             bytes that are not a usable image: carries the reason
    └── AlertError                an alert channel failed: carries whether a retry can help

It lives in ``pipelines`` because that package may import nothing else of ours, while
``artwatch`` and ``crawler`` may import it. The CLI turns every ``ArtWatchError`` into one
line on stderr and exit code 2.
"""


class ArtWatchError(Exception):
    """Base class: the message is written for the person running ArtWatch."""


class ConfigError(ArtWatchError):
    """A setting or an entry of config/sources.yaml is missing or invalid."""


class StoreUnavailable(ArtWatchError):
    """The MongoDB server named by MONGODB_URI (or the embedded one) does not answer."""


class FetchError(ArtWatchError):
    """A request failed in a way the caller should report, not retry blindly."""


class PrivateAddressError(FetchError):
    """A URL found in the wild resolves to an address ArtWatch must not contact."""


class ImageRejected(ArtWatchError):
    """Bytes that cannot be fingerprinted; ``reason`` is a short stable key for stats."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class AlertError(ArtWatchError):
    """A channel could not deliver an alert; ``permanent`` says a retry cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent
