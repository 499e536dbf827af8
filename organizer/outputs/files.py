"""Writing organize's own output files (manifests, reports, keyframe exports) without ever replacing a file that
is not ours: a path given with --manifest or --report may name a video by mistake.

A new file is written to an unguessable temporary name and published with link() (which never replaces); an
existing file is replaced atomically only when it is one of ours (a manifest, a report, a keyframes.json).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from organizer.errors import OrganizerError
from organizer.layout import TMP_PREFIX

REPORT_MARK = b'<meta name="generator" content="organize">'
PEEK = 1 << 16


class OutputRefused(OrganizerError):
    """An output path names a file that is not organize's."""


def _head(path: Path, limit: int) -> bytes | None:
    """Up to `limit` first bytes of a regular file (None for anything else), read without following a link or
    blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.pread(fd, limit, 0)
    finally:
        os.close(fd)


def _json_with(data: bytes | None, keys: tuple[str, ...]) -> bool:
    try:
        value = json.loads(data or b"")
    except ValueError:
        return False
    return isinstance(value, dict) and all(k in value for k in keys)


JSON_LIMIT = 256 << 20       # a manifest of a very large library is tens of MiB

OURS = {
    "manifest": lambda path: _json_with(_head(path, JSON_LIMIT), ("version", "root", "dest", "moves")),
    "report": lambda path: REPORT_MARK in (_head(path, PEEK) or b""),
    "keyframes": lambda path: _json_with(_head(path, JSON_LIMIT), ("video", "keyframes")),
    "image": lambda path: (_head(path, 3) or b"") == b"\xff\xd8\xff",
}


def is_ours(path: Path, kind: str) -> bool:
    """True when path is a file organize wrote (its content says so)."""
    return OURS[kind](path)


def write_output(path: str | os.PathLike, data: bytes, kind: str, option: str) -> Path:
    """Write data to path: create it, or replace it only when it is organize's own `kind` of file."""
    path = Path(path)
    if os.path.lexists(path) and not is_ours(path, kind):
        raise OutputRefused(f"{path} already exists and is not an organize {kind}; it was left alone. Choose "
                            f"another file{' with ' + option if option else ''}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / (TMP_PREFIX + os.urandom(8).hex())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(fd, "wb", closefd=False) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            _publish(tmp, path, kind, option)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise OrganizerError(f"Cannot write {path} ({exc.strerror or exc}); choose another place"
                             f"{' with ' + option if option else ''}, or make that folder writable.") from None
    return path


def _publish(tmp: Path, path: Path, kind: str, option: str) -> None:
    try:
        os.link(tmp, path)            # never replaces
        return
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    if not is_ours(path, kind):       # something appeared meanwhile
        raise OutputRefused(f"{path} appeared while organize was writing it and is not an organize {kind}; it was "
                            f"left alone. Choose another file{' with ' + option if option else ''}.")
    os.replace(tmp, path)
