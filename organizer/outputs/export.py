"""Keyframe export: OUT/<folder>/ with one JPEG per keyframe (named by its time) and keyframes.json.

The full-size keyframes are decoded by the workers (a "stills" or "export" job), never in this process.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from organizer.config import Settings
from organizer.engine.executor import Executor, Job, Outcome
from organizer.layout import free_name
from organizer.outputs.files import is_ours, write_output
from organizer.pipeline import ResolvedRun
from organizer.scan import scan
from organizer.types import Analysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exported:
    """One video: where its keyframes went, or why they could not be exported."""

    video: str
    folder: str | None
    keyframes: int = 0
    reason: str | None = None


def write_keyframes(folder: Path, name: str, analysis: Analysis, stills: dict[int, bytes]) -> int:
    """Write the JPEGs (full size where decoded, else the thumbnail) and keyframes.json; returns how many. Only
    files of ours are ever replaced (write_output). A keyframe that is library furniture (an intro other videos of
    the library share) is still written, marked "furniture": true."""
    kf = analysis.keyframes
    thumbs = list(analysis.thumbnails) + [b""] * len(kf.times)
    entries = []
    for i, (t, number, sharp, thumb) in enumerate(zip(kf.times, kf.frame_numbers, kf.sharpness, thumbs)):
        data = stills.get(number) or thumb
        if not data:
            continue
        file = f"{t:08.3f}s.jpg"
        write_output(folder / file, data, "image", "")
        entries.append({"time": round(t, 3), "frame": int(number), "file": file, "sharpness": round(sharp, 2)}
                       | ({"furniture": True} if i in analysis.furniture else {}))
    meta = {"video": name, "duration": round(analysis.duration, 3), "keyframes": entries}
    try:
        text = json.dumps(meta, indent=2, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:       # a name that is not UTF-8: JSON escapes keep it exact
        text = json.dumps(meta, indent=2).encode("ascii")
    write_output(folder / "keyframes.json", text + b"\n", "keyframes", "")
    return len(entries)


def _usable(folder: Path) -> bool:
    """A folder we may write into: new, or one of our exports (it holds our keyframes.json)."""
    if not os.path.lexists(folder):
        return True
    return folder.is_dir() and not folder.is_symlink() and is_ours(folder / "keyframes.json", "keyframes")


def safe_component(stem: str) -> str:
    """One safe path component for an export folder: never '', '.', '..', hidden, or holding a '/' or NUL (a
    video named '...mp4' has the stem '..'), and within 200 bytes."""
    name = stem.replace("/", "_").replace("\0", "_").strip()
    if name.startswith("."):
        name = "_" + name.lstrip(".") if name.strip(".") else "_" * max(1, len(name))
    name = name or "video"
    while len(os.fsencode(name)) > 200:
        name = name[:-1]
    return name


def folder_names(paths: Iterable[str], out_dir: Path | None = None) -> dict[str, str]:
    """A distinct folder name per video: its stem, then 'stem (2)', ... for other videos with the same stem and
    for folders in out_dir that are not an export of ours."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for path in paths:
        stem = safe_component(Path(path).stem or Path(path).name)
        name = free_name(stem, lambda n: f"{stem} ({n})",
                         lambda c: c in taken or (out_dir is not None and not _usable(Path(out_dir) / c)))
        taken.add(name)
        names[path] = name
    return names


def export_analysed(items: list[tuple[str, Analysis]], out_dir: Path, executor: Executor) -> dict[str, Path]:
    """Export videos already analysed (path, analysis): the workers decode the full-size keyframes."""
    names = folder_names((p for p, _ in items), out_dir)
    by_path = dict(items)
    jobs = []
    for path, a in items:
        try:
            size = os.stat(path).st_size
        except OSError as exc:               # gone (or unreadable) since it was analysed: its keyframes are cached
            log.warning("%s: %s since it was analysed; its keyframes are exported from the cached thumbnails", path,
                        "was deleted" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})")
            write_keyframes(Path(out_dir) / names[path], Path(path).name, a, {})
            continue
        jobs.append(Job(path, path, size, path, task="stills", frames=a.keyframes.frame_numbers))
    written = {}
    for outcome in executor.run(jobs):
        path = outcome.job.path
        folder = Path(out_dir) / names[path]
        write_keyframes(folder, Path(path).name, by_path[path], dict(outcome.stills))
        written[path] = folder
    return written


def export_videos(videos: list[Path], settings: Settings, out_dir: Path, executor: Executor | None = None,
                  debug: bool = False) -> Iterator[Exported]:
    """Analyse each video and export its keyframes; results are yielded as the videos finish."""
    run = ResolvedRun.of(settings)            # resolved once for the whole command
    paths = []
    for given in videos:
        if os.path.isdir(given):
            found = [os.fspath(v.path) for v in scan(Path(given), 0.0).videos]
            if not found:
                yield Exported(os.fspath(given), None, reason="is a folder with no videos in it")
            paths += found
        else:
            paths.append(os.fspath(given))
    names = folder_names(paths, out_dir)
    jobs, done = [], {}
    for path in paths:
        if not os.path.isfile(path):
            done[path] = Exported(path, None, reason="does not exist or is not a regular file")
            continue
        jobs.append(Job(path, path, os.path.getsize(path), path, task="export"))
    # Results come in the order the workers finish; they are given in the order the videos were named.
    order, nxt = list(dict.fromkeys(paths)), 0
    outcomes = (executor or run.executor(debug)).run(jobs) if jobs else ()
    for outcome in outcomes:
        done[outcome.job.path] = _exported(outcome, Path(out_dir) / names[outcome.job.path])
        while nxt < len(order) and order[nxt] in done:
            yield done.pop(order[nxt])
            nxt += 1
    yield from (done[p] for p in order[nxt:] if p in done)


def _exported(outcome: Outcome, folder: Path) -> Exported:
    if outcome.analysis is None:
        return Exported(outcome.job.path, None, reason=outcome.failure)
    count = write_keyframes(folder, Path(outcome.job.path).name, outcome.analysis, dict(outcome.stills))
    return Exported(outcome.job.path, str(folder), count)
