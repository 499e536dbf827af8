"""Every filesystem call the mover makes, relative to directory descriptors, with named fault points.

Folders are opened once (O_DIRECTORY | O_NOFOLLOW, one component at a time) and every later call names a file
relative to such a descriptor (linkat, renameat2, unlinkat, openat), so no path string is resolved twice and a
folder swapped for a symbolic link between check and use is refused, not followed.

ORGANIZER_FAULT="point:k[:ERRNO][,point:k...]" kills the process with SIGKILL at the k-th hit of `point`, or
raises OSError(ERRNO) there ("copy:1:ENOSPC"). Points: mkdir, tmp, copy, fsync, publish, fsync_dir,
after_publish, before_unlink_src, unlink_src, unlink, journal. With TRACE set to a list, every call appends
(operation, name) to it: tests check the order of the fsyncs (what survives a power loss).
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import signal
import stat
from dataclasses import dataclass

from .digest import CHUNK, sha256_fd
from .layout import TMP_PREFIX

FAULT_ENV = "ORGANIZER_FAULT"
HASH_LIMIT = 64 << 20       # files up to this size are verified by SHA-256 after a cross-filesystem copy
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_hits: dict[str, int] = {}
TRACE: list | None = None


def reset_faults() -> None:
    _hits.clear()


def fault(point: str) -> None:
    if TRACE is not None:
        TRACE.append(("fault", point))
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


def _trace(op: str, name: str) -> None:
    if TRACE is not None:
        TRACE.append((op, name))


@dataclass
class Dir:
    """An open folder: its descriptor, and its path for messages and journals (never used to reach it)."""

    fd: int
    path: str

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Dir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def dev(self) -> int:
        return os.fstat(self.fd).st_dev


def open_dir(path: str | os.PathLike) -> Dir:
    """A folder given by the user (root, dest): resolved once, here, then only used through its descriptor."""
    return Dir(os.open(path, DIR_FLAGS & ~os.O_NOFOLLOW), os.fsdecode(path))


def sub_dir(parent: Dir, name: str, create: bool = False, on_create=None) -> Dir:
    """A folder inside `parent`, never through a link; created (and the creation fsynced) when asked, after
    on_create(path) has journaled it."""
    path = os.path.join(parent.path, name)
    try:
        return Dir(os.open(name, DIR_FLAGS, dir_fd=parent.fd), path)
    except FileNotFoundError:
        if not create:
            raise
    if on_create is not None:
        on_create(path)
    fault("mkdir")
    _trace("mkdir", path)
    try:
        os.mkdir(name, 0o755, dir_fd=parent.fd)
    except FileExistsError:
        pass
    fsync_dir(parent)
    return Dir(os.open(name, DIR_FLAGS, dir_fd=parent.fd), path)


def walk(base: Dir, parts: list[str], create: bool = False, on_create=None) -> Dir:
    """The folder base/parts[0]/parts[1]/..., one component at a time, never through a link."""
    current = Dir(os.dup(base.fd), base.path)
    for part in parts:
        try:
            nxt = sub_dir(current, part, create, on_create)
        finally:
            current.close()
        current = nxt
    return current


def stat_at(d: Dir, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=d.fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def fsync_dir(d: Dir) -> None:
    fault("fsync_dir")
    _trace("fsync_dir", d.path)
    os.fsync(d.fd)


_libc = None


def rename_noreplace(src: Dir, src_name: str, dst: Dir, dst_name: str) -> None:
    """renameat2(RENAME_NOREPLACE): an atomic rename that fails with EEXIST instead of replacing."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(_libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available, so a move cannot be made without risk of "
                      "overwriting")
    if fn(src.fd, os.fsencode(src_name), dst.fd, os.fsencode(dst_name), 1) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), dst_name)


def publish(src: Dir, src_name: str, dst: Dir, dst_name: str) -> bool:
    """Give a file a new name without ever replacing an existing one: a hard link (False), or where the
    filesystem has none, renameat2(RENAME_NOREPLACE) (True: the old name is gone)."""
    fault("publish")
    _trace("publish", dst_name)
    try:
        os.link(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd, follow_symlinks=False)
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    rename_noreplace(src, src_name, dst, dst_name)   # filesystems without hard links (FAT, some FUSE)
    return True


def open_regular(d: Dir, name: str) -> tuple[int, os.stat_result]:
    """Open a file for reading without following a link or blocking on a FIFO; refuse anything not regular."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=d.fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd, st


def temp_name() -> str:
    """An unguessable name for a temporary copy."""
    return TMP_PREFIX + secrets.token_hex(8)


def create_temp(d: Dir, name: str) -> tuple[str, int]:
    """Create the temporary file d/name with O_EXCL (never an existing file); returns (name, descriptor)."""
    fault("tmp")
    _trace("tmp", name)
    return name, os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=d.fd)


def copy_durable(src_fd: int, src_st: os.stat_result, dst_fd: int) -> None:
    """Copy the bytes, mode and times, then fsync the copy."""
    while True:
        chunk = os.read(src_fd, CHUNK)
        if not chunk:
            break
        fault("copy")
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view):]
    os.fchmod(dst_fd, stat.S_IMODE(src_st.st_mode))
    os.utime(dst_fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
    fault("fsync")
    _trace("fsync", "copy")
    os.fsync(dst_fd)


def remove(d: Dir, name: str, ino: int) -> bool:
    """Unlink d/name only if it is still the file with this inode (what we created); True when removed."""
    st = stat_at(d, name)
    if st is None or st.st_ino != ino:
        return False
    fault("unlink")
    _trace("unlink", name)
    os.unlink(name, dir_fd=d.fd)
    return True


def unlink_source(d: Dir, name: str, ino: int) -> None:
    """Remove the source name after its copy is published, refusing if the name now holds another file."""
    fault("before_unlink_src")
    st = stat_at(d, name)
    if st is None or st.st_ino != ino:
        raise OSError(errno.ESTALE, "the source was replaced while it was being moved; both files were kept")
    fault("unlink_src")
    _trace("unlink_src", name)
    os.unlink(name, dir_fd=d.fd)


def same_content(a_fd: int, b_fd: int) -> bool:
    sa, sb = os.fstat(a_fd), os.fstat(b_fd)
    if sa.st_size != sb.st_size:
        return False
    return sa.st_size > HASH_LIMIT or sha256_fd(a_fd) == sha256_fd(b_fd)
