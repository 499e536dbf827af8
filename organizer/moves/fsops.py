"""Every filesystem call the mover makes, relative to directory descriptors, with named fault points.

Folders are opened once (O_DIRECTORY | O_NOFOLLOW, one component at a time) and every later call names a file
relative to such a descriptor (linkat, renameat2, unlinkat, openat), so no path string is resolved twice and a
folder swapped for a symbolic link between check and use is refused, not followed.

ORGANIZER_FAULT="point:k[:ERRNO][,point:k...]" kills the process with SIGKILL at the k-th hit of `point`, or
raises OSError(ERRNO) there ("copy:1:ENOSPC"). Points: mkdir, tmp, copy, fsync, publish, fsync_dir,
after_publish, before_unlink_src, hide_src, unlink_src, unlink, journal. The counts start again whenever the
variable changes, so one test's hits never carry over into the next. With TRACE set to a list, every call appends
(operation, name) to it.

A source is never removed by name after being checked by descriptor: it is first renamed to a private,
unguessable name in its own folder, that name's identity is checked, and only then is it unlinked (hide_source).
A downloader that renames a new file over the source's name in between loses nothing.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import secrets
import signal
import stat
from dataclasses import dataclass

from organizer.digest import CHUNK, sha256_fd
from organizer.layout import TMP_PREFIX

FAULT_ENV = "ORGANIZER_FAULT"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_hits: dict[str, int] = {}
_armed: list[str] = [""]       # the ORGANIZER_FAULT value the counts belong to
TRACE: list | None = None


def reset_faults() -> None:
    _hits.clear()


def fault(point: str) -> None:
    if TRACE is not None:
        TRACE.append(("fault", point))
    spec = os.environ.get(FAULT_ENV, "")
    if spec != _armed[0]:          # a new fault (or none): counting starts again
        _hits.clear()
        _armed[0] = spec
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


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What must not change between checking a file and acting on it: inode, size, mtime_ns, ctime_ns."""
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


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


def copy_durable(src_fd: int, src_st: os.stat_result, dst_fd: int) -> str:
    """Copy the bytes, mode and times, then fsync the copy. Returns the SHA-256 of the bytes read from the source
    (hashed while copying, whatever the size), to compare with a fresh read of the published copy."""
    h = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(src_fd, CHUNK, offset)
        if not chunk:
            break
        fault("copy")
        h.update(chunk)
        offset += len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view):]
    os.fchmod(dst_fd, stat.S_IMODE(src_st.st_mode))
    os.utime(dst_fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
    fault("fsync")
    _trace("fsync", "copy")
    os.fsync(dst_fd)
    return h.hexdigest()


def remove(d: Dir, name: str, ino: int) -> bool:
    """Unlink d/name only if it is still the file with this inode (what we created); True when removed."""
    st = stat_at(d, name)
    if st is None or st.st_ino != ino:
        return False
    fault("unlink")
    _trace("unlink", name)
    os.unlink(name, dir_fd=d.fd)
    return True


class SourceReplaced(OSError):
    """The source's name held another file when it was to be removed: that file was put back, untouched."""


class SourceChanged(OSError):
    """The source was written to after it was copied: it was put back under its name, untouched."""


def hide(d: Dir, name: str, hidden: str) -> None:
    """Rename d/name to the private name `hidden` (unguessable, in the same folder): from here on nothing that
    happens to `name` can make us remove the wrong file."""
    fault("hide_src")
    _trace("hide_src", name)
    os.rename(name, hidden, src_dir_fd=d.fd, dst_dir_fd=d.fd)


def unhide(d: Dir, hidden: str, name: str) -> bool:
    """Put a hidden file back under its name, never replacing one; False (and it stays hidden) if the name was
    taken meanwhile."""
    try:
        rename_noreplace(d, hidden, d, name)
        return True
    except FileExistsError:
        return False


def unlink_source(d: Dir, name: str, hidden: str, expect: tuple[int, int, int]) -> None:
    """Remove the source after its copy is published and verified. The name is first renamed to `hidden`; the
    file there must still be (ino, size, mtime_ns) = expect, else it is put back and SourceReplaced (another
    file) or SourceChanged (ours, edited) is raised. Only the private name is ever unlinked."""
    fault("before_unlink_src")
    hide(d, name, hidden)
    st = stat_at(d, hidden)
    if st is None or (st.st_ino, st.st_size, st.st_mtime_ns) != expect:
        back = st is not None and unhide(d, hidden, name)
        where = "" if back or st is None else f" (it was kept as {hidden}: its name was taken again)"
        if st is not None and st.st_ino == expect[0]:
            raise SourceChanged(errno.ESTALE, "the source was changed while it was being moved; it was kept" + where)
        raise SourceReplaced(errno.ESTALE, "another file took the source's name while it was being moved; that "
                             "file was left alone" + where)
    try:
        fault("unlink_src")
        _trace("unlink_src", name)
        os.unlink(hidden, dir_fd=d.fd)
    except OSError:
        if not unhide(d, hidden, name):            # the name was taken meanwhile: the published copy must stay
            raise SourceReplaced(errno.ESTALE, f"the source could not be removed and its name was taken; it was "
                                 f"kept as {hidden}") from None
        raise


def same_content(a_fd: int, b_fd: int) -> bool:
    """Byte for byte (by SHA-256), whatever the size."""
    sa, sb = os.fstat(a_fd), os.fstat(b_fd)
    return sa.st_size == sb.st_size and sha256_fd(a_fd) == sha256_fd(b_fd)


def dir_identity(d: Dir) -> list[int]:
    st = os.fstat(d.fd)
    return [st.st_dev, st.st_ino]


def real_path(d: Dir) -> str:
    """Where an open folder really is (Linux: /proc/self/fd), else the path it was opened by, resolved."""
    try:
        return os.readlink(f"/proc/self/fd/{d.fd}")
    except OSError:
        return os.path.realpath(d.path)
