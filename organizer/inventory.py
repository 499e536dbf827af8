"""Which content each file holds: a fingerprint that survives moves and renames.

A file whose (dev, ino, size, mtime) the state already knows is not even read. Others are fingerprinted from
their bytes: the size, and BLAKE2 of the first and last MiB plus the container's declared duration.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .decode import probe_duration
from .state import FileRow, LibraryState
from .types import Failure, VideoFile

CHUNK = 1 << 20                      # the fingerprint hashes the first and the last MiB


def fingerprint(path: Path, size: int, duration: float | None) -> str:
    """Content identity: size, a hash of the first and last MiB, and the duration (None: not known)."""
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as fh:
        h.update(fh.read(CHUNK))
        if size > 2 * CHUNK:
            fh.seek(size - CHUNK)
            h.update(fh.read(CHUNK))
        elif size > CHUNK:
            h.update(fh.read())
    dur = "na" if duration is None else f"{duration:.1f}"
    return f"{size}-{h.hexdigest()}-{dur}"


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
            fp = fingerprint(v.path, v.size, probe_duration(v.path) if v.size else None)
        except OSError as exc:
            failures.append(Failure(v.rel, f"cannot be read ({exc.strerror}); check its permissions"))
            continue
        rows.append(FileRow(v.dev, v.ino, v.size, v.mtime_ns, os.fsdecode(v.path), fp))
        found.append(Identified(v, fp))
    state.remember_files(rows)
    return found, failures
