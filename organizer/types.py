"""Plain, immutable data passed between stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


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


@dataclass
class SampledFrames:
    """Frames sampled from one video, already scaled to a working size (RGB uint8)."""

    frames: list[np.ndarray]
    times: list[float]
    indices: list[int]
    duration: float
    fps: float
    width: int
    height: int
    decoder: str


@dataclass
class Keyframes:
    """The keyframes chosen inside one video and the video vector built from them."""

    indices: list[int]                 # positions into the sampled frames
    times: list[float]
    frame_numbers: list[int]
    sharpness: list[float]
    vector: np.ndarray                 # L2-normalised mean of keyframe features
    dropped: dict[str, int] = field(default_factory=dict)   # quality-gate name -> frames dropped


@dataclass
class VideoResult:
    """Everything learnt about one video during a run."""

    video: VideoFile
    duration: float
    n_frames: int
    keyframes: Keyframes
    thumbnails: list[np.ndarray] = field(default_factory=list)   # keyframe images (RGB, small)
    class_scores: np.ndarray | None = None                        # mean class probabilities of keyframes
    frame_features: np.ndarray | None = None                      # per sampled frame (only when just computed)
    reused: int = 0                        # sampled frames that reused the features of a near-identical frame
