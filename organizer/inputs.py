"""Reading the files a user names (a settings file, a manifest, a labels file, a model): each is opened once,
non-blocking, checked with fstat, and read within a size limit. A FIFO, a socket, a folder, a symbolic link loop,
a file too large or in the wrong encoding gets a sentence (InputError, exit 1), never a hang or a traceback."""

from __future__ import annotations

import errno
import os
import stat

from organizer.errors import OrganizerError

MiB = 1 << 20


class InputError(OrganizerError):
    """A file given on the command line or in a setting cannot be used as it is."""


def open_checked(path, what: str) -> tuple[int, os.stat_result]:
    """An open descriptor on a regular file, or InputError saying what the path is instead."""
    shown = os.fsdecode(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"The {what} {shown} does not exist; check the path.") from None
    except OSError as exc:
        why = {errno.ELOOP: "is a loop of symbolic links", errno.ENXIO: "is a socket, not a file",
               errno.ENAMETOOLONG: "is a path too long for this system"}.get(exc.errno,
                                                                             f"cannot be read ({exc.strerror})")
        raise InputError(f"The {what} {shown} {why}; pass a regular file.") from None
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        return fd, st
    os.close(fd)
    kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else \
        "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
    raise InputError(f"The {what} {shown} is {kind}, not a regular file; it was not read. Pass a regular file.")


def check_regular(path, what: str) -> None:
    """Refuse, before anything waits on it, a path that exists but is not a regular file (a missing one is left
    to the code that reads it, which says what to do)."""
    if os.path.lexists(path):                   # a dangling or looping link counts: it exists as a name
        os.close(open_checked(path, what)[0])


def read_bytes(path, what: str, limit: int) -> bytes:
    fd, st = open_checked(path, what)
    try:
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(MiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(f"The {what} {os.fsdecode(path)} cannot be read ({exc.strerror}).") from None
    finally:
        os.close(fd)
    if total > limit:
        raise InputError(f"The {what} {os.fsdecode(path)} is larger than {limit // MiB} MiB, more than a {what} can "
                         "be; check that this is the right file.")
    return b"".join(chunks)


def read_text(path, what: str, limit: int, errors: str = "strict") -> str:
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise InputError(f"The {what} {os.fsdecode(path)} is not UTF-8 text (byte {exc.start} cannot be read); save "
                         "it as UTF-8.") from None
