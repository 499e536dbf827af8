"""Which content each file holds: a fingerprint that survives moves and renames.

A file whose (dev, ino, size, mtime) the state already knows is not even read. Others are fingerprinted from
their bytes alone (no decoder ever runs in this process): the size, and BLAKE2 of the first and last MiB and of
eight 64 KiB samples spread between them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from organizer.store.state import FileRow, LibraryState
from organizer.types import Failure, VideoFile

EDGE = 1 << 20                       # the first and the last MiB are hashed whole
SAMPLE, SAMPLES = 1 << 16, 8         # plus this many samples of this size spread between them


def fingerprint(path: Path | str) -> str:
    """Content identity from the bytes: size plus a hash of the edges and samples of the middle. Opened without
    following links or blocking; anything but a regular file raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        size = st.st_size
        h = hashlib.blake2b(digest_size=16)
        if size <= 2 * EDGE + SAMPLES * SAMPLE:
            h.update(os.pread(fd, size, 0))
        else:
            step = (size - 2 * EDGE) // (SAMPLES + 1)
            offsets = [0] + [EDGE + step * (i + 1) for i in range(SAMPLES)] + [size - EDGE]
            for offset in offsets:
                h.update(os.pread(fd, EDGE if offset in (0, size - EDGE) else SAMPLE, offset))
        return f"{size}-{h.hexdigest()}"
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Identified:
    video: VideoFile
    fingerprint: str


def identify(videos: list[VideoFile], state: LibraryState, index: dict | None = None
             ) -> tuple[list[Identified], list[Failure]]:
    """Each video with its content fingerprint, and the files that could not be read."""
    index = state.stat_index() if index is None else index
    found, failures, rows = [], [], []
    for v in videos:
        hit = index.get((v.dev, v.ino))
        if hit and hit[0] == v.size and hit[1] == v.mtime_ns:
            found.append(Identified(v, hit[2]))
            continue
        try:
            fp = fingerprint(v.path)
        except OSError as exc:
            failures.append(Failure(v.rel, f"cannot be read ({exc.strerror}); check its permissions"))
            continue
        rows.append(FileRow(v.dev, v.ino, v.size, v.mtime_ns, os.fsdecode(v.path), fp))
        found.append(Identified(v, fp))
    state.remember_files(rows)
    return found, failures
