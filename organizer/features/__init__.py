"""Feature backends: a small protocol, InceptionV3 through Keras 3 or a cached TFLite conversion, any TFLite model.

TensorFlow and Keras are imported only inside the backends, so the CLI's help stays fast and a nightly run with
nothing new never imports them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from organizer.features.labels import imagenet_classes, read_labels
from organizer.features.spec import FeatureSpec, file_digest

__all__ = ["FeatureBackend", "FeatureSpec", "Embedding", "embed_frames", "file_digest", "imagenet_classes",
           "load_backend", "near_duplicate_sources", "to_model_input", "read_labels"]

log = logging.getLogger(__name__)


class FeatureBackend(Protocol):
    name: str
    input_size: int
    labels: list[str] | None          # class names when the model also gives class scores

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Features (N, D) and class scores (N, C) or None, for N RGB uint8 images of input_size."""


_CACHE: dict[tuple, FeatureBackend] = {}
_LOCK = threading.Lock()


def load_backend(spec: FeatureSpec) -> FeatureBackend:
    """The backend for a spec; built once per process (models are slow to build)."""
    with _LOCK:
        if spec.backend_key not in _CACHE:
            _CACHE[spec.backend_key] = _build(spec)
        return _CACHE[spec.backend_key]


def _build(spec: FeatureSpec) -> FeatureBackend:
    if spec.family == "tflite":
        from organizer.features.tflite import TFLiteBackend
        return TFLiteBackend(Path(spec.source), spec.labels or None, threads=spec.threads)
    from organizer.features.inception import InceptionBackend
    if (spec.runtime == "keras" or spec.precision != "float32"
            or spec.source not in ("imagenet", "random") and not Path(spec.source).is_file()):
        return InceptionBackend(spec.source, seed=spec.seed, precision=spec.precision)   # (a missing file: the message)
    from organizer.features.convert import converted_or_keras
    return converted_or_keras(spec)


def to_model_input(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to `size` and centre-crop to size x size: the aspect ratio is never squashed."""
    h, w = frame.shape[:2]
    f = size / min(h, w)
    nw, nh = max(size, round(w * f)), max(size, round(h * f))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(frame, (nw, nh), interpolation=interp)
    y, x = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(resized[y:y + size, x:x + size])


def tiny_grey(frame: np.ndarray, side: int = 32) -> np.ndarray:
    """A side x side grey thumbnail (float32, 0-255): what the near-duplicate pre-filter compares."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def near_duplicate_sources(frames, threshold: float) -> list[int]:
    """For each frame, the index of the frame whose features it can reuse: itself, or the closest earlier frame
    sent to the model when the two differ by less than `threshold` (mean absolute difference of 32x32 grey,
    0-255). Comparing with every computed frame also catches a picture that comes back (A B A B), and since a
    reused frame always points at a computed one, slow drifts never chain."""
    sources: list[int] = []
    computed: list[int] = []
    tinies: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        tiny = tiny_grey(frame).ravel()
        if threshold > 0 and tinies:
            diffs = np.abs(np.stack(tinies) - tiny).mean(1)
            j = int(np.argmin(diffs))
            if diffs[j] < threshold:
                sources.append(computed[j])
                continue
        computed.append(i)
        tinies.append(tiny)
        sources.append(i)
    return sources


@dataclass(frozen=True)
class Embedding:
    features: np.ndarray                 # (n, d) float32, one row per frame
    scores: np.ndarray | None            # (n, classes) or None
    reused: int = 0                      # frames that skipped the model (near-duplicates of a computed frame)


def embed_frames(backend: FeatureBackend, frames, batch_size: int, reuse_below: float = 0.0,
                 sources: list[int] | None = None) -> Embedding:
    """Run frames through the model in batches; a frame whose source is another frame reuses its features."""
    sources = near_duplicate_sources(frames, reuse_below) if sources is None else sources
    unique = sorted(set(sources))
    feats, scores = [], []
    for start in range(0, len(unique), batch_size):
        batch = np.stack([to_model_input(frames[i], backend.input_size) for i in unique[start:start + batch_size]])
        f, s = backend.embed(batch)
        feats.append(f)
        if s is not None:
            scores.append(s)
    row = {i: r for r, i in enumerate(unique)}
    take = [row[src] for src in sources]
    features = np.concatenate(feats).astype(np.float32)[take]
    score_arr = np.concatenate(scores).astype(np.float32)[take] if scores else None
    return Embedding(features, score_arr, len(frames) - len(unique))
