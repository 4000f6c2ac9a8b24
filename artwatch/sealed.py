"""Webhook secrets at rest: encrypted (Fernet: AES-CBC with an HMAC) under a key kept out of
the database, so that a dump of the database alone does not reveal them.

The key is ``ARTWATCH_SECRETS_KEY``; unset, one generated at first use and kept in
``ARTWATCH_DATA_DIR/secrets.key`` (0600). A stored secret reads ``fernet:<token>``; anything
else is a plain secret an older release wrote, encrypted by ``seal_stored_secrets`` at the
next start. Secrets are decrypted only to sign a request.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from artwatch.private import private_dir
from artwatch.settings import Settings
from pipelines.errors import ConfigError
from pipelines.store.sync import Store

PREFIX = "fernet:"
KEY_FILE = "secrets.key"


class SecretBox:
    """Seals and opens secrets with one key."""

    def __init__(self, key: bytes | str):
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise ConfigError(
                "ARTWATCH_SECRETS_KEY must be a Fernet key (32 url-safe base64 bytes)"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.artwatch_secrets_key is not None:
            return cls(settings.artwatch_secrets_key.get_secret_value())
        return cls(_key_file(Path(settings.artwatch_data_dir)))

    def seal(self, secret: str) -> str:
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret; a plain (not yet sealed) value as it is. ConfigError for a wrong key."""
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ConfigError(
                "a webhook secret cannot be decrypted: ARTWATCH_SECRETS_KEY (or "
                "ARTWATCH_DATA_DIR/secrets.key) is not the key it was sealed with"
            ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal_stored_secrets(store: Store, box: SecretBox) -> int:
    """Encrypt the plain webhook secrets an older release stored; returns how many.

    Idempotent and safe to interrupt: each artist is rewritten alone, sealed ones are skipped.
    """
    plain = [
        a for a in store.artists() if a.get("webhook_secret") and not is_sealed(a["webhook_secret"])
    ]
    for artist in plain:
        store.update_artist(
            str(artist["_id"]), {"webhook_secret": box.seal(artist["webhook_secret"])}
        )
    return len(plain)


def _key_file(data_dir: Path) -> bytes:
    path = private_dir(data_dir) / KEY_FILE
    if not path.exists():
        # Written aside then linked: two processes starting at once agree on one whole key.
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")
        try:
            os.write(fd, Fernet.generate_key())
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            os.unlink(draft)
    return path.read_bytes().strip()
