"""Walk a library into VideoFiles: extensions, partial downloads, the state folder, symlinks, hard links."""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from .types import Failure, VideoFile

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    "mp4 m4v mov mkv webm avi flv wmv mpg mpeg ts m2ts 3gp ogv".split()
)

# Names download managers give files that are still being written (yt-dlp, browsers, aria2, qBittorrent).
_PARTIAL_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\.part$", r"\.part-frag\d+(\.part)?$", r"\.ytdl$", r"\.temp\.[^.]+$", r"\.f\d+\.[^.]+$",
        r"\.crdownload$", r"\.download$", r"\.!qb$", r"\.aria2$",
    )
]


def partial_download_reason(name: str, siblings: set[str]) -> str | None:
    """Why a file looks like an unfinished download, or None."""
    for pattern in _PARTIAL_PATTERNS:
        if pattern.search(name):
            return "still downloading (its name marks an unfinished download); left alone"
    if name + ".aria2" in siblings:
        return "still downloading (an aria2 control file sits beside it); left alone"
    return None


def is_video_name(name: str) -> bool:
    return name.rpartition(".")[2].lower() in VIDEO_EXTENSIONS and "." in name


@dataclass
class ScanResult:
    videos: list[VideoFile] = field(default_factory=list)
    downloading: list[Failure] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)


def scan(root: Path, settle_seconds: float = 600.0, now: float | None = None,
         exclude: tuple[Path, ...] = ()) -> ScanResult:
    """Find video files under root without following symlinks; each file once by (dev, ino).

    `now` is injectable so tests can control the settle time.
    """
    root = Path(root)
    now = time.time() if now is None else now
    result = ScanResult()
    seen: set[tuple[int, int]] = set()
    excluded = {os.path.realpath(p) for p in exclude}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # Hidden folders (and with them our own .organizer state) are never entered.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.realpath(os.path.join(dirpath, d)) not in excluded)
        siblings = set(filenames)
        for name in sorted(filenames):
            if name.startswith(".") or not is_video_name(name) and not partial_download_reason(name, siblings):
                continue
            path = Path(dirpath) / name
            rel = os.path.relpath(path, root)
            try:
                st = os.lstat(path)
            except OSError as exc:
                result.skipped.append(Failure(rel, f"cannot be read ({exc.strerror}); check its permissions"))
                continue
            if stat.S_ISLNK(st.st_mode):
                result.skipped.append(Failure(rel, "is a symbolic link; links are never followed or moved"))
                continue
            if not stat.S_ISREG(st.st_mode):
                result.skipped.append(Failure(rel, "is not a regular file (a FIFO, socket or device); never opened"))
                continue
            reason = partial_download_reason(name, siblings)
            if reason is None and now - st.st_mtime < settle_seconds:
                reason = (f"still downloading (modified {now - st.st_mtime:.0f} s ago, within the "
                          f"{settle_seconds:.0f} s settle time); left alone")
            if reason:
                if is_video_name(name) or name.lower().endswith((".part", ".crdownload", ".download", ".!qb")):
                    result.downloading.append(Failure(rel, reason))
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                result.skipped.append(Failure(rel, "is another name (hard link) of a file already planned"))
                continue
            seen.add(key)
            result.videos.append(VideoFile(path, rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
    return result
