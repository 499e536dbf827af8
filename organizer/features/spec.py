"""One answer to "which model made these features": a frozen FeatureSpec built from the settings.

Its `space` names the feature space (model family plus the content digest of the weights or model file). It is the
single key for the backend cache, the converted-model file name, the analysis cache key and the space the stored
cluster centroids live in: two runs whose features can be compared have the same space, and only those.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from organizer.digest import sha256_file

RECIPE = "f3"     # bump when the way features are read from a model changes: every cached analysis is then redone

_DIGESTS: dict[tuple, str] = {}
_LOCK = threading.Lock()


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) of a file's bytes, computed once per (path, size, mtime) in a process."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _DIGESTS:
            return _DIGESTS[key]
    digest = sha256_file(path)[:16]
    with _LOCK:
        _DIGESTS[key] = digest
    return digest


@dataclass(frozen=True)
class FeatureSpec:
    """What computes the features. `space` is the identity; runtime, threads and labels do not change it."""

    family: str            # "inceptionv3" or "tflite"
    source: str            # inceptionv3: "imagenet", "random" or a weights file; tflite: the model file
    digest: str            # "imagenet", "random-<seed>", or the file's SHA-256 prefix ("missing" if unreadable)
    labels: str = ""       # class names for a TFLite classifier (naming only)
    runtime: str = "auto"  # InceptionV3: "auto" (converted TFLite, cached) or "keras"
    threads: int = 0       # inference threads per process (0: all cores)
    seed: int = 0          # for random weights
    precision: str = "float32"   # InceptionV3 through Keras: "float32" or "bfloat16" (part of the space)

    @classmethod
    def from_settings(cls, settings) -> "FeatureSpec":
        if settings.features_model:
            source = os.path.abspath(settings.features_model)
            return cls("tflite", source, _digest_or_missing(source), _abs(settings.features_labels), "auto",
                       settings.features_threads, settings.seed)
        weights = settings.features_weights
        if weights == "random":
            digest = f"random-{settings.seed}"
        elif weights == "imagenet":
            digest = "imagenet"
        else:
            weights = os.path.abspath(weights)
            digest = "file-" + _digest_or_missing(weights)
        return cls("inceptionv3", weights, digest, "", settings.features_backend, settings.features_threads,
                   settings.seed, settings.features_precision)

    @property
    def space(self) -> str:
        """The feature space: features (and centroids) with the same space are comparable."""
        return f"{self.family}:{self.digest}:{RECIPE}" + ("" if self.precision == "float32" else f":{self.precision}")

    @property
    def random(self) -> bool:
        return self.family == "inceptionv3" and self.source == "random"

    @property
    def backend_key(self) -> tuple:
        """What a loaded backend depends on (the backend cache key)."""
        return self.space, self.runtime, self.threads, self.labels

    def converted_name(self, fmt: str) -> str:
        """File name of the InceptionV3 conversion for these weights."""
        return f"inceptionv3-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.digest)}-{fmt}.tflite"

    def describe(self) -> str:
        """What a person would call this model."""
        if self.family == "tflite":
            return Path(self.source).name
        return f"InceptionV3 ({self.source if self.source in ('imagenet', 'random') else Path(self.source).name})"

    def with_threads(self, threads: int) -> "FeatureSpec":
        return replace(self, threads=threads)


def _abs(path: str) -> str:
    return os.path.abspath(path) if path else ""


def _digest_or_missing(path: str) -> str:
    try:
        return file_digest(path)
    except OSError:
        return "missing"      # the backend says what is wrong when it is loaded
