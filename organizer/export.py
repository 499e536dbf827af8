"""Keyframe export: OUT/<folder>/ with one JPEG per keyframe (named by its time) and keyframes.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .analysis import AnalysisParams
from .config import Settings
from .decode import frames_at
from .engine import Executor, InlineExecutor, Job
from .features import FeatureSpec
from .images import decode_jpeg, encode_jpeg
from .types import VideoFile, VideoResult


def export_keyframes(result: VideoResult, out_dir: Path, folder_name: str | None = None) -> Path:
    """Write the keyframes of one video at full resolution (the thumbnail where a frame cannot be decoded)."""
    video, analysis = result.video, result.analysis
    folder = Path(out_dir) / (folder_name or video.path.stem)
    folder.mkdir(parents=True, exist_ok=True)
    kf = analysis.keyframes
    full = frames_at(video.path, list(kf.frame_numbers), side=None)
    by_number = dict(zip(full.indices, full.frames))
    entries = []
    thumbs = list(analysis.thumbnails) + [b""] * len(kf.times)
    for t, number, sharp, thumb in zip(kf.times, kf.frame_numbers, kf.sharpness, thumbs):
        image = by_number.get(number)
        data = encode_jpeg(image, 92) if image is not None else thumb
        if not data or (image is None and decode_jpeg(data) is None):
            continue
        name = f"{t:08.3f}s.jpg"
        (folder / name).write_bytes(data)
        entries.append({"time": round(t, 3), "frame": int(number), "file": name, "sharpness": round(sharp, 2)})
    meta = {"video": video.path.name, "duration": round(analysis.duration, 3), "keyframes": entries}
    (folder / "keyframes.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


@dataclass(frozen=True)
class Exported:
    """One video of `organize keyframes`: where its keyframes went, or why it could not be read."""

    video: str
    folder: str | None
    keyframes: int = 0
    reason: str | None = None


def export_videos(videos: list[Path], settings: Settings, out_dir: Path,
                  executor: Executor | None = None) -> Iterator[Exported]:
    """Analyse each video and export its keyframes; outcomes are yielded as the videos finish."""
    spec, params = FeatureSpec.from_settings(settings), AnalysisParams.from_settings(settings)
    executor = executor or InlineExecutor(spec, params)
    jobs, paths = [], {}
    for n, video in enumerate(videos):
        if not Path(video).is_file():
            yield Exported(str(video), None, reason="does not exist or is not a regular file")
            continue
        jobs.append(Job(str(n), os.fspath(video), os.path.getsize(video), str(video)))
        paths[str(n)] = Path(video)
    for outcome in executor.run(jobs):
        video = paths[outcome.job.key]
        if outcome.analysis is None:
            yield Exported(str(video), None, reason=outcome.failure)
            continue
        st = os.stat(video)
        result = VideoResult(VideoFile(video, video.name, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino),
                             outcome.job.key, outcome.analysis)
        folder = export_keyframes(result, out_dir)
        yield Exported(str(video), str(folder), len(outcome.analysis.keyframes.indices))
