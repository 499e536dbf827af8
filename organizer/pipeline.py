"""Wire the stages: scan -> decode -> features -> keyframes -> clustering -> plan. One bad video never aborts."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .clustering import VideoClusterer, cluster_names
from .config import Settings
from .decode import frames_at, sample_video, scale_to_work
from .errors import NothingProcessed, OrganizerError, VideoUnreadable
from .features import FeatureBackend, embed_frames, load_backend
from .keyframes import KeyframeSelector, l2n
from .planner import Plan, build_plan
from .scan import scan
from .types import Failure, Keyframes, VideoFile, VideoResult

log = logging.getLogger(__name__)

THUMB_SIDE = 180


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, label: str) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None: pass
    def advance(self, label: str) -> None: pass
    def finish(self) -> None: pass


@dataclass
class RunResult:
    plan: Plan
    results: list[VideoResult]
    failures: list[Failure]
    n_clusters: int
    names: list[str]
    labels: list[int]
    backend: str
    auto_scores: dict[int, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0


def analyze_video(path: Path, settings: Settings, backend: FeatureBackend, video: VideoFile | None = None
                  ) -> tuple[VideoResult, list[np.ndarray]]:
    """Sample, embed and pick keyframes of one video; returns the result and the sampled frames."""
    sampled = sample_video(path, settings.sampling_fps, settings.sampling_max_frames, settings.sampling_min_frames)
    features, scores = embed_frames(backend, sampled.frames, settings.features_batch_size)
    selector = KeyframeSelector.from_settings(settings).fit(features, sampled.frames, sampled.times)
    chosen = selector.keyframe_indices_
    keyframes = Keyframes(
        indices=chosen, times=[sampled.times[i] for i in chosen],
        frame_numbers=[sampled.indices[i] for i in chosen],
        sharpness=[float(selector.quality_.sharpness[i]) for i in chosen],
        vector=selector.vector_, dropped=selector.dropped_)
    if video is None:
        st = os.stat(path)
        video = VideoFile(Path(path), os.path.basename(path), st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)
    result = VideoResult(
        video=video, duration=sampled.duration, n_frames=len(sampled.frames), keyframes=keyframes,
        thumbnails=[scale_to_work(sampled.frames[i], THUMB_SIDE // 2) for i in chosen],
        class_scores=None if scores is None else scores[chosen].mean(0))
    return result, sampled.frames


def organize(root: Path, settings: Settings, dest: Path | None = None, progress: Progress | None = None,
             now: float | None = None) -> RunResult:
    """Analyse every video under root and plan where each goes. Changes nothing on disk."""
    started = time.monotonic()
    root = Path(os.path.abspath(root))
    dest = Path(os.path.abspath(dest)) if dest else root
    if not root.is_dir():
        raise OrganizerError(f"{root} is not a folder; pass the folder that holds your videos.")
    found = scan(root, settings.safety_settle_seconds, now=now)
    progress = progress or NoProgress()
    results: list[VideoResult] = []
    failures = list(found.skipped)
    backend = None
    frames = 0
    progress.start(len(found.videos))
    try:
        for video in found.videos:
            try:
                backend = backend or load_backend(settings)
                result, sampled = analyze_video(video.path, settings, backend, video)
                results.append(result)
                frames += len(sampled)
            except VideoUnreadable as exc:
                failures.append(Failure(video.rel, str(exc)))
            except OrganizerError:
                raise          # model or configuration problems concern every video: stop with the message
            except Exception as exc:   # one bad video never aborts the batch
                log.debug("unexpected failure on %s", video.path, exc_info=True)
                failures.append(Failure(video.rel, f"could not be processed ({type(exc).__name__}: {exc})"))
            progress.advance(video.rel)
    finally:
        progress.finish()
    if found.videos and not results:
        raise NothingProcessed(f"None of the {len(found.videos)} video(s) under {root} could be processed; "
                               "see the reasons listed for each.")
    warnings = []
    labels: list[int] = []
    names: list[str] = []
    scores: dict[int, float] = {}
    if results:
        clusterer = VideoClusterer(settings.n_clusters, settings.seed).fit(np.stack([r.keyframes.vector
                                                                                     for r in results]))
        labels = clusterer.labels_.tolist()
        scores = clusterer.scores_
        if clusterer.warning_:
            warnings.append(clusterer.warning_)
        class_names = getattr(backend, "labels", None)
        names = cluster_names(clusterer.labels_, [r.class_scores for r in results], class_names, settings.naming)
        if settings.naming == "labels" and not class_names:
            warnings.append("The feature model gives no class names (an embedding model or random weights); "
                            "clusters are numbered.")
    plan = build_plan(root, dest, [(r.video, names[c]) for r, c in zip(results, labels)],
                      settings=settings.as_dict(), skipped=failures, downloading=found.downloading)
    return RunResult(plan, results, failures, len(names), names, labels, backend.name if backend else "none",
                     scores, warnings, frames, time.monotonic() - started)


def export_keyframes(result: VideoResult, out_dir: Path) -> Path:
    """Write OUT/<stem>/ with one JPEG per keyframe (named by timestamp) and keyframes.json."""
    video = result.video
    folder = Path(out_dir) / video.path.stem
    folder.mkdir(parents=True, exist_ok=True)
    kf = result.keyframes
    full = frames_at(video.path, kf.frame_numbers, side=None)
    by_number = dict(zip(full.indices, full.frames))
    entries = []
    for t, number, sharp, thumb in zip(kf.times, kf.frame_numbers, kf.sharpness, result.thumbnails):
        image = by_number.get(number, thumb)
        name = f"{t:08.3f}s.jpg"
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise OrganizerError(f"Could not encode a keyframe of {video.path.name} as JPEG.")
        (folder / name).write_bytes(data.tobytes())
        entries.append({"time": round(t, 3), "frame": int(number), "file": name, "sharpness": round(sharp, 2)})
    meta = {"video": video.path.name, "duration": round(result.duration, 3), "keyframes": entries}
    (folder / "keyframes.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder
