"""SHA-256 of a file's bytes (model identity, and the check of a copy across filesystems)."""

from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def sha256_fd(fd: int) -> str:
    """SHA-256 of everything an open descriptor holds (read with pread, so its offset does not matter)."""
    h = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, CHUNK, offset)
        if not chunk:
            return h.hexdigest()
        h.update(chunk)
        offset += len(chunk)


def sha256_file(path: str | os.PathLike) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return sha256_fd(fd)
    finally:
        os.close(fd)
