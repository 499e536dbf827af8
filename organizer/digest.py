"""SHA-256 of a file's bytes (model identity, and the check of a copy across filesystems)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat

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
    """SHA-256 of a regular file; OSError for anything else (a FIFO is never waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        return sha256_fd(fd)
    finally:
        os.close(fd)
