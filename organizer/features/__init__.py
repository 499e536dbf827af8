"""Feature backends: a small protocol, InceptionV3 through Keras, any image model through TFLite.

TensorFlow is imported only inside the backends, so the CLI's help stays fast.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import Settings
from ..decode import to_model_input


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
    """The backend the settings ask for; built once per process (models are slow to build)."""
    key = (settings.features_model, settings.features_weights, settings.features_labels,
           settings.features_threads, settings.seed)
    with _LOCK:
        if key not in _CACHE:
            if settings.features_model:
                from .tflite import TFLiteBackend
                _CACHE[key] = TFLiteBackend(Path(settings.features_model), settings.features_labels or None,
                                            threads=settings.features_threads)
            else:
                from .inception import InceptionBackend
                _CACHE[key] = InceptionBackend(settings.features_weights, seed=settings.seed)
        return _CACHE[key]


def embed_frames(backend: FeatureBackend, frames: list[np.ndarray], batch_size: int
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Run frames through the model in batches; returns features and class scores (or None)."""
    feats, scores = [], []
    for start in range(0, len(frames), batch_size):
        batch = np.stack([to_model_input(f, backend.input_size) for f in frames[start:start + batch_size]])
        f, s = backend.embed(batch)
        feats.append(f)
        if s is not None:
            scores.append(s)
    features = np.concatenate(feats).astype(np.float32)
    return features, (np.concatenate(scores).astype(np.float32) if scores else None)
