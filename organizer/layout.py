"""Where organize keeps its own files inside a library: PATH/.organizer/ and nothing else.

One place knows the layout (lock, journal, plans, state database); the library service, the mover and the scanner
ask it instead of joining paths of their own. Nothing a plan moves may lie inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from organizer.errors import OrganizerError

STATE_DIR = ".organizer"
TMP_PREFIX = ".organizer-tmp-"     # the mover's temporary files; a plan may never name one
NAME_MAX = 255                     # bytes in one file name (every Linux filesystem we write to)


def looks_like_ours(rel: str) -> bool:
    """True when a relative path names our state folder (or anything in it) or one of our temporary files."""
    parts = PurePosixPath(rel).parts
    return any(p == STATE_DIR or p.startswith(TMP_PREFIX) for p in parts)


def free_name(first: str, numbered: Callable[[int], str], taken: Callable[[str], bool]) -> str:
    """`first` when it is not taken, else the first of numbered(2), numbered(3), ... that is not: the one loop
    behind every name organize makes up (a moved file's, a cluster folder's, an export folder's)."""
    candidate, n = first, 2
    while taken(candidate):
        candidate, n = numbered(n), n + 1
    return candidate


def fit_name(stem: str, suffix: str, max_bytes: int = NAME_MAX) -> str:
    """stem+suffix, shortening the stem (at a character boundary) so the name fits in max_bytes."""
    while len(os.fsencode(stem + suffix)) > max_bytes and stem:
        stem = stem[:-1]
    return stem + suffix


def unique_name(name: str, taken: set[str]) -> str:
    """The name itself if free, else 'stem (2).ext', 'stem (3).ext', ... always within NAME_MAX bytes."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    ext = "." + ext if ext else ""
    return free_name(name, lambda n: fit_name(stem, f" ({n}){ext}"),
                     lambda c: c in taken or len(os.fsencode(c)) > NAME_MAX)


def library_root(root) -> Path:
    """The folder a command was given, absolute, once checked: it exists, is a folder, and is not ours."""
    path = Path(os.path.abspath(root))
    if not os.path.lexists(path):
        raise OrganizerError(f"{path} does not exist; pass the folder that holds your videos.")
    if not path.is_dir():
        raise OrganizerError(f"{path} is a file, not a folder; pass the folder that holds your videos.")
    if STATE_DIR in Path(os.path.realpath(path)).parts:
        raise OrganizerError(f"{path} is, or lies inside, organize's own {STATE_DIR} folder, which is never "
                             "organized or moved; nothing was changed. Pass the folder that holds your videos.")
    return path


def not_writable(folder: Path, exc: OSError) -> str:
    """The sentence for a state folder that cannot be written."""
    if exc.errno == 28:      # ENOSPC
        return (f"The disk holding {folder} is full ({exc.strerror}); organize keeps its lock, journal and cache "
                "there. Free some space and run again; nothing was lost.")
    return (f"Cannot write {folder} ({exc.strerror or exc}); organize keeps its lock, journal and cache there. "
            "Make the library writable (or move the file that is in the way); to only look at a plan, add "
            "--dry-run --manifest FILE with FILE somewhere writable.")


@dataclass(frozen=True)
class Layout:
    """The paths of one library's state folder."""

    root: Path

    @classmethod
    def of(cls, root: str | os.PathLike) -> "Layout":
        return cls(Path(os.path.abspath(root)))

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def lock(self) -> Path:
        return self.state_dir / "lock"

    @property
    def journal_dir(self) -> Path:
        return self.state_dir / "journal"

    @property
    def plans_dir(self) -> Path:
        return self.state_dir / "plans"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.sqlite"

    def exists(self) -> bool:
        return os.path.lexists(self.state_dir)

    def inside(self, path: str | os.PathLike) -> bool:
        """True when path (absolute, or relative to the working folder) lies in the state folder."""
        real = os.path.realpath(path)
        base = os.path.realpath(self.state_dir)
        return real == base or real.startswith(base.rstrip(os.sep) + os.sep)
