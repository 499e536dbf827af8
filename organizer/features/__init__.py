"""Feature backends: a small protocol, InceptionV3 through Keras, any image model through TFLite.

TensorFlow is imported only inside the backends, so the CLI's help stays fast.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..config import Settings
from ..decode import to_model_input

log = logging.getLogger(__name__)


class FeatureBackend(Protocol):
    name: str
    input_size: int
    labels: list[str] | None          # class names when the model also gives class scores

    def identity(self) -> dict: ...

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Features (N, D) and class scores (N, C) or None, for N RGB uint8 images of input_size."""


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, shipped with the package (nothing is downloaded)."""
    text = resources.files("organizer.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


_CACHE: dict[tuple, FeatureBackend] = {}
_LOCK = threading.Lock()


def load_backend(settings: Settings) -> FeatureBackend:
    """The backend the settings ask for; built once per process (models are slow to build).

    InceptionV3 runs as a cached TFLite conversion unless features.backend is 'keras' (see convert.py).
    """
    key = (settings.features_model, settings.features_weights, settings.features_labels,
           settings.features_threads, settings.seed, settings.features_backend)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(settings)
        return _CACHE[key]


def _build(settings: Settings) -> FeatureBackend:
    if settings.features_model:
        from .tflite import TFLiteBackend
        return TFLiteBackend(Path(settings.features_model), settings.features_labels or None,
                             threads=settings.features_threads)
    from .inception import InceptionBackend
    if settings.features_backend == "keras":
        return InceptionBackend(settings.features_weights, seed=settings.seed)
    from .convert import ConvertedInceptionBackend, convert, converted_path
    random = settings.features_weights == "random"
    if settings.features_weights not in ("imagenet", "random") and not Path(settings.features_weights).is_file():
        return InceptionBackend(settings.features_weights, seed=settings.seed)   # raises the clear message
    target = converted_path(settings.features_weights, settings.seed)
    if target.is_file():
        try:
            return ConvertedInceptionBackend(target, random, settings.features_threads)
        except Exception as exc:     # a damaged cache file: convert again
            log.warning("%s", exc)
    keras_backend = InceptionBackend(settings.features_weights, seed=settings.seed)
    try:
        done = convert(keras_backend, target, settings.features_threads)
    except Exception as exc:         # converter bugs or missing ops: Keras still works
        log.warning("Could not convert InceptionV3 to TFLite (%s); Keras computes the features.",
                    str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__)
        done = None
    if done is None:
        return keras_backend
    return ConvertedInceptionBackend(done[0], random, settings.features_threads)


def tiny_grey(frame: np.ndarray, side: int = 32) -> np.ndarray:
    """A side x side grey thumbnail (float32, 0-255): what the near-duplicate pre-filter compares."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def near_duplicate_sources(frames: list[np.ndarray], threshold: float) -> list[int]:
    """For each frame, the index of the frame whose features it can reuse: itself, or the closest earlier frame
    sent to the model when the two differ by less than `threshold` (mean absolute difference of 32x32 grey,
    0-255). Consecutive repeats are the common case; comparing with every computed frame also catches a picture
    that comes back (A B A B), and since a reused frame always points at a computed one, slow drifts never chain."""
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


@dataclass
class Embedding:
    features: np.ndarray                 # (n, d) float32, one row per frame
    scores: np.ndarray | None            # (n, classes) or None
    reused: int = 0                      # frames that skipped the model (near-duplicates of the frame before)


def embed_frames(backend: FeatureBackend, frames: list[np.ndarray], batch_size: int,
                 reuse_below: float = 0.0) -> Embedding:
    """Run frames through the model in batches; near-identical consecutive frames reuse the features."""
    sources = near_duplicate_sources(frames, reuse_below)
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
