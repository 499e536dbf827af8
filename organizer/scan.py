"""Walk a library into VideoFiles: extensions, partial downloads, the state folder, symlinks, hard links."""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from organizer.engine.probe import complete_containers
from organizer.types import Failure, VideoFile

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
    recent: int = 0                  # videos left alone only because they were modified within the settle time
    finished: int = 0                # of those, how many look like a finished copy (not growing, nobody writing)
    copies: int = 0                  # recently modified videos organized as finished copies (complete, unwritten)
    retry_at: float | None = None    # when the last of the videos left alone leaves the settle time (epoch s)


def open_for_writing(keys: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """(dev, ino) -> "name (pid N)" for the files among `keys` that a process has open for writing. Reads
    /proc/*/fd and fdinfo where this user may (Linux); elsewhere, or unreadable, nothing is known."""
    found: dict[tuple[int, int], str] = {}
    if not keys or not os.path.isdir("/proc/self/fd"):
        return found
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
                if (st.st_dev, st.st_ino) not in keys:
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
                    flags = int(next(ln for ln in fh if ln.startswith("flags:")).split()[1], 8)
                if flags & (os.O_WRONLY | os.O_RDWR):
                    with open(f"/proc/{pid}/comm") as fh:
                        found[(st.st_dev, st.st_ino)] = f"{fh.read().strip()} (pid {pid})"
            except (OSError, StopIteration, ValueError):
                continue
    return found


def _recent(candidates: list[tuple[VideoFile, float]], settle_seconds: float, stable_seconds: float,
            organize_finished: bool, result: ScanResult) -> None:
    """Files modified within the settle time: watch them for stable_seconds. A file that stayed the same size, that
    no process has open for writing and whose container is complete (probe.py: it opens and its end decodes) is a
    finished copy (cp -r gives every file a new time), organized now unless finished_copies is 'leave'."""
    if not candidates:
        return
    if stable_seconds > 0:
        time.sleep(stable_seconds)
    writers = open_for_writing({(v.dev, v.ino) for v, _ in candidates})
    quiet = {}
    for video, _ in candidates:
        try:
            st = os.lstat(video.path)
            quiet[video.rel] = (st.st_size, st.st_mtime_ns, st.st_ino) == (video.size, video.mtime_ns, video.ino)
        except OSError:
            quiet[video.rel] = False
    settled = {v.rel for v, _ in candidates if stable_seconds > 0 and quiet[v.rel] and (v.dev, v.ino) not in writers}
    whole = complete_containers([os.fspath(v.path) for v, _ in candidates if v.rel in settled])
    for video, age in candidates:
        grew, writer = not quiet[video.rel], writers.get((video.dev, video.ino))
        finished = video.rel in settled and os.fspath(video.path) in whole
        if finished and organize_finished:
            result.videos.append(video)
            result.copies += 1
            continue
        result.recent += 1
        result.finished += finished
        retry = video.mtime_ns / 1e9 + settle_seconds
        result.retry_at = retry if result.retry_at is None else max(result.retry_at, retry)
        why = (f"it is open for writing by {writer}" if writer else "it is growing" if grew else
               "it is complete, not growing and nothing is writing it: a finished copy, left alone because "
               "safety.finished_copies is 'leave'" if finished else
               "it does not play to its end yet" if video.rel in settled else "")
        when = f"{age:.0f} s ago" if age >= 0 else f"{-age:.0f} s in the future by its clock"
        result.downloading.append(Failure(video.rel, f"still downloading (modified {when}, within the "
                                                     f"{settle_seconds:.0f} s settle time{'; ' + why if why else ''}); "
                                                     "left alone"))


def walk_folders(root) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk without following links, top-down, but with a stack instead of recursion: a tree nested thousands
    of folders deep is walked, not a RecursionError. The caller may prune dirnames in place, as with os.walk.
    A folder that cannot be listed is passed over, as os.walk does."""
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            continue
        dirnames, filenames = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (dirnames if is_dir else filenames).append(entry.name)
        yield top, dirnames, filenames
        stack.extend(os.path.join(top, d) for d in reversed(dirnames))


def scan(root: Path, settle_seconds: float = 600.0, now: float | None = None,
         exclude: tuple[Path, ...] = (), stable_seconds: float = 0.0, organize_finished: bool = False
         ) -> ScanResult:
    """Find video files under root without following symlinks; each file once by (dev, ino).

    `now` is injectable so tests can control the settle time. Files modified within the settle time are watched
    for `stable_seconds` to tell a finished copy from a download (see _recent)."""
    root = Path(root)
    now = time.time() if now is None else now
    result = ScanResult()
    seen: set[tuple[int, int]] = set()
    recent: list[tuple[VideoFile, float]] = []
    excluded = {os.path.realpath(p) for p in exclude}
    for dirpath, dirnames, filenames in walk_folders(root):
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
            if reason:
                if is_video_name(name) or name.lower().endswith((".part", ".crdownload", ".download", ".!qb")):
                    result.downloading.append(Failure(rel, reason))
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                result.skipped.append(Failure(rel, "is another name (hard link) of a file already planned"))
                continue
            seen.add(key)
            video = VideoFile(path, rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)
            if abs(now - st.st_mtime) < settle_seconds:     # far in the future is a wrong clock, not a download
                recent.append((video, now - st.st_mtime))
            else:
                result.videos.append(video)
    _recent(recent, settle_seconds, stable_seconds, organize_finished, result)
    return result
