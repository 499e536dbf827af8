"""Plain, immutable data passed between stages (frozen dataclasses; arrays are never written after creation), and
the small protocol through which the core reports progress (the CLI draws a bar; tests record)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from pathlib import Path

import numpy as np

UNSORTED = "_unsorted"     # where far-off videos wait when no cluster fits and no new cluster may open


@dataclass(frozen=True)
class VideoFile:
    """A regular file found in the library; identity is (dev, ino)."""

    path: Path
    rel: str
    size: int
    mtime_ns: int
    dev: int
    ino: int


@dataclass(frozen=True)
class Failure:
    """A file that was not processed, with a sentence saying why."""

    path: str
    reason: str


@dataclass(frozen=True)
class SampledFrames:
    """Frames sampled from one video, already scaled to a working size (RGB uint8)."""

    frames: tuple[np.ndarray, ...]
    times: tuple[float, ...]
    indices: tuple[int, ...]
    duration: float
    fps: float
    width: int
    height: int
    decoder: str
    seeks: int = 0                       # how often the decoder jumped ahead instead of decoding every frame
    signal: Any = None                   # shots.Signal: a tiny grey image of every decoded frame (PyAV only)
    edit: Any = None                     # shots.Edit: cuts, transitions and shots read from the signal
    timeline: Any = None                 # (rows, step) from analysis/timeline.py, made from the signal


@dataclass(frozen=True)
class Keyframes:
    """The keyframes chosen inside one video (positions into its sampled frames)."""

    indices: tuple[int, ...]
    times: tuple[float, ...]
    frame_numbers: tuple[int, ...]
    sharpness: tuple[float, ...]
    dropped: tuple[tuple[str, int], ...] = ()      # (quality gate, frames it dropped)


@dataclass(frozen=True)
class Analysis:
    """Everything learnt about one video's content; what the cache stores, keyed by its fingerprint."""

    duration: float
    n_frames: int
    keyframes: Keyframes
    vector: np.ndarray                                   # float32, L2-normalised mean of keyframe features
    class_scores: np.ndarray | None = None               # mean class probabilities of the keyframes
    thumbnails: tuple[bytes, ...] = ()                   # JPEG of each keyframe (small)
    frame_features: np.ndarray | None = None             # float16, one row per sampled frame (when kept)
    reused: int = 0                                      # sampled frames that reused another frame's features
    cnn_frames: int = 0                                  # frames that went through the model
    keyframe_features: np.ndarray | None = None          # float16, one row per keyframe (None: an older analysis)
    keyframe_weights: tuple[float, ...] = ()             # each keyframe's share of `vector`
    keyframe_looks: np.ndarray | None = None             # uint8, a 16x16 grey thumbnail per keyframe (flattened)
    furniture: tuple[int, ...] = ()                      # keyframes that are library furniture (grouping/furniture)
    grouping: np.ndarray | None = None                   # float32: `vector` without the furniture keyframes
    width: int = 0                                       # the video's picture size (0: an older analysis)
    height: int = 0
    timeline: np.ndarray | None = None                   # uint8, a 16x16 grey image every timeline_step seconds
    timeline_step: float = 0.0                           # (analysis/timeline.py; 0: an older analysis)

    @property
    def bare(self) -> bool:
        """Every keyframe is library furniture: nothing of the video's own was seen."""
        return bool(self.furniture) and len(self.furniture) >= len(self.keyframes.indices)

    @property
    def group_vector(self) -> np.ndarray:
        """What grouping compares: the vector without library furniture where some was found."""
        return self.vector if self.grouping is None else self.grouping

    @property
    def dim(self) -> int:
        return int(self.vector.shape[-1])


@dataclass(frozen=True)
class VideoResult:
    """A video of this run with its analysis (fresh or from the cache)."""

    video: VideoFile
    fingerprint: str
    analysis: Analysis
    cached: bool = False


@dataclass(frozen=True)
class ClusterRow:
    """A cluster: its folder name, its centroid in the library's prepared feature space, and its size."""

    name: str
    centroid: np.ndarray | None
    size: int = 0


@dataclass(frozen=True)
class ClusterSet:
    """The stored clusters with the space they live in: the model's feature space and the library mean."""

    rows: tuple[ClusterRow, ...] = ()
    mean: np.ndarray | None = None
    space: str | None = None
    max_distance: float | None = None     # the calibrated max_distance these clusters were made with (auto)
    max_distance_why: str = ""            # how it was calibrated, a sentence
    max_distance_videos: int = 0          # how many videos it was calibrated over

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.rows]


@dataclass(frozen=True)
class Picture:
    """A picture of library furniture (grouping/furniture.py): its feature (unit, in the keyframes' centred space),
    in how many videos it recurs, and one of them (a video id: its fingerprint)."""

    feature: np.ndarray
    videos: int
    example: str
    keyframe: int = 0             # which keyframe of the example video shows it


@dataclass(frozen=True)
class Furniture:
    """The pictures found, the centring mean they live in, and which keyframes of which videos are furniture."""

    pictures: tuple[Picture, ...] = ()
    mean: np.ndarray | None = None
    marks: dict[str, tuple[int, ...]] = field(default_factory=dict)   # video id -> keyframe positions

    def shown(self, where: dict[str, str]) -> list[dict]:
        """The pictures as the summary, --json and the report show them: in how many videos, and one of those
        videos (`where`: video id -> its path in this run) and which of its keyframes, where this run has it."""
        return [{"videos": p.videos, "example": where[p.example], "keyframe": p.keyframe}
                for p in self.pictures if p.example in where]


def best_copy(group: list[str], results: dict[str, "VideoResult"]) -> str:
    """Of files that are one video (rels), the copy to keep in front: the largest picture, then the largest file,
    then the first name."""
    def key(rel: str):
        r = results[rel]
        return (-(r.analysis.width * r.analysis.height), -r.video.size, rel)
    return min(group, key=key)


class Progress(Protocol):
    def phase(self, name: str) -> None: ...        # what the run is doing now: "scanning", "clustering", ...
    def start(self, total: int) -> None: ...       # the analysis bar: called once the first video is analysed
    def advance(self, label: str) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing (library use, cron)."""

    def phase(self, name: str) -> None:
        pass

    def start(self, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass

    def finish(self) -> None:
        pass
