"""Every filesystem change the mover makes goes through here, with named fault points for testing.

ORGANIZER_FAULT="point:k[:ERRNO][,point:k...]" kills the process with SIGKILL at the k-th hit of `point`
(or raises OSError(ERRNO) there, e.g. "copy:1:ENOSPC"). Points: publish, after_publish, copy, fsync,
before_unlink_src, unlink_src, mkdir, journal.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import stat
from pathlib import Path

from .digest import sha256_file

FAULT_ENV = "ORGANIZER_FAULT"
HASH_LIMIT = 64 << 20       # files up to this size are verified by SHA-256 after a cross-filesystem copy
CHUNK = 1 << 20
_hits: dict[str, int] = {}


def reset_faults() -> None:
    _hits.clear()


def fault(point: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, rest = item.partition(":")
        if name != point:
            continue
        k, _, code = rest.partition(":")
        _hits[point] = _hits.get(point, 0) + 1
        if _hits[point] == int(k):
            if code:
                number = getattr(errno, code) if not code.isdigit() else int(code)
                raise OSError(number, os.strerror(number) + f" (injected at {point})")
            os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_libc = None


def rename_noreplace(src: Path, dst: Path) -> None:
    """renameat2(RENAME_NOREPLACE): atomic rename that fails with EEXIST instead of replacing."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(_libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available, so a move cannot be made without risk of "
                      "overwriting")
    at_fdcwd, rename_noreplace_flag = -100, 1
    if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_noreplace_flag) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(dst))


def publish(src: Path, dst: Path) -> None:
    """Give the file at src the name dst without ever replacing an existing dst (link, or renameat2)."""
    fault("publish")
    try:
        os.link(src, dst, follow_symlinks=False)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    rename_noreplace(src, dst)   # filesystems without hard links (FAT, some FUSE)


def copy_durable(src: Path, tmp: Path) -> None:
    """Copy bytes, mode and mtime to tmp (a new file) and fsync it."""
    st = os.stat(src, follow_symlinks=False)
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fd_out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            while True:
                chunk = os.read(fd_in, CHUNK)
                if not chunk:
                    break
                fault("copy")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_out, view):]
            os.fchmod(fd_out, stat.S_IMODE(st.st_mode))
            fault("fsync")
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def same_content(a: Path, b: Path) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    if sa.st_size != sb.st_size:
        return False
    return sa.st_size > HASH_LIMIT or sha256_file(a) == sha256_file(b)


def move_file(src: Path, dst: Path, tmp: Path) -> os.stat_result:
    """Move src to dst, never overwriting, never leaving a partial file under dst; returns dst's stat.

    Same filesystem: link + unlink. Across filesystems (EXDEV only): copy to tmp, fsync, publish, fsync the
    folder, verify size (+ SHA-256 for files up to 64 MiB), then unlink the source.
    """
    try:
        publish(src, dst)
        cross = False
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        cross = True
    if cross:
        try:
            copy_durable(src, tmp)
            publish(tmp, dst)
        finally:
            if os.path.lexists(tmp):   # published or not, the temporary name never outlives the copy
                os.unlink(tmp)
        fsync_dir(dst.parent)
        fault("after_publish")
        if not same_content(src, dst):
            raise OSError(errno.EIO, "the copy differs from the original after writing; the original was kept")
    else:
        fsync_dir(dst.parent)
        fault("after_publish")
    fault("before_unlink_src")
    fault("unlink_src")
    os.unlink(src)
    fsync_dir(src.parent)
    return os.stat(dst, follow_symlinks=False)


def make_dir(path: Path) -> None:
    fault("mkdir")
    os.mkdir(path)
    fsync_dir(path.parent)
