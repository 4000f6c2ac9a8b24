"""Files only their owner can use: ``ARTWATCH_DATA_DIR`` and what ArtWatch keeps in it.

The data directory holds the embedded database, its socket, crawl logs and the key of the
webhook secrets, so it is made 0700 and those files 0600 whatever the umask; a directory an
older release created with looser modes is tightened on the next start.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a directory only the owner can enter (created if missing)."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for ``open()``: the file is 0600 even when it already existed."""
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    with open(path, "wb", opener=private_opener) as file:
        file.write(data)
