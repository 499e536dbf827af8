"""InceptionV3 converted once to TFLite (dynamic-range quantization), cached, and run without TensorFlow.

The first run with a given set of weights builds the Keras model, converts it, checks that the converted model
gives the same features on a few test images (cosine >= MIN_COSINE, else it is refused and Keras is used), and
stores it under the user cache directory keyed by the weights' identity. Later runs load the cached file with
LiteRT and never import TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from organizer.errors import ModelUnavailable
from organizer.features.labels import imagenet_classes
from organizer.features.spec import FeatureSpec
from organizer.features.tflite import native_output_captured

log = logging.getLogger(__name__)

MIN_COSINE = 0.99          # the converted model is refused below this feature cosine against Keras
FORMAT = "drq1"            # bump when the conversion recipe changes: old cached files are then ignored


def cache_dir() -> Path:
    """$ORGANIZER_CACHE_DIR, else $XDG_CACHE_HOME/organizer, else ~/.cache/organizer."""
    if os.environ.get("ORGANIZER_CACHE_DIR"):
        return Path(os.environ["ORGANIZER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "organizer"


def converted_path(spec: FeatureSpec) -> Path:
    return cache_dir() / "models" / spec.converted_name(FORMAT)


def converted_or_keras(spec: FeatureSpec):
    """The cached conversion for these weights; converted now when missing; Keras when conversion fails."""
    from organizer.features.inception import InceptionBackend

    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return InceptionBackend(spec.source, seed=spec.seed)      # only TensorFlow converts to TFLite
    target = converted_path(spec)
    if target.is_file():
        try:
            return ConvertedInceptionBackend(target, spec.random, spec.threads)
        except Exception as exc:     # a damaged cache file: convert again
            log.warning("%s", exc)
    keras_backend = InceptionBackend(spec.source, seed=spec.seed)
    try:
        done = convert(keras_backend, target, spec.threads)
    except Exception as exc:         # converter bugs or missing ops: Keras still works
        log.warning("Could not convert InceptionV3 to TFLite (%s); Keras computes the features.",
                    str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__)
        done = None
    if done is None:
        return keras_backend
    return ConvertedInceptionBackend(done[0], spec.random, spec.threads)


def check_images(n: int = 6, size: int = 299) -> np.ndarray:
    """Deterministic test pictures (gradients, shapes, texture) for the fidelity check."""
    rng = np.random.default_rng(2024)
    images = []
    for i in range(n):
        img = np.zeros((size, size, 3), np.uint8)
        ramp = np.linspace(0, 255, size, dtype=np.float32)
        img[..., i % 3] = ramp[None, :]
        img[..., (i + 1) % 3] = ramp[:, None]
        for _ in range(8):
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            x, y, r = (int(v) for v in rng.integers(20, size - 20, 3))
            cv2.circle(img, (x, y), r // 4 + 5, colour, -1)
        img = np.clip(img.astype(np.float32) + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        images.append(img)
    return np.stack(images)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return (a * b).sum(1)


class ConvertedInceptionBackend:
    """InceptionV3 features (2048-d avg_pool) and ImageNet class scores from the converted TFLite model."""

    input_size = 299

    def __init__(self, path: Path, random_weights: bool, threads: int = 0):
        # One frame per call: measured as fast as batches here (12-15 frames/s either way on 2 cores), and a fixed
        # batch would pad each video's last chunk with wasted work.
        from organizer.features.tflite import make_interpreter

        self.path = Path(path)
        self.name = "inceptionv3-tflite"
        try:
            self._it = make_interpreter(self.path, threads)
        except Exception as exc:
            raise ModelUnavailable(f"The cached converted model {path} cannot be loaded ({str(exc)[:160]}); "
                                   "delete it and organize converts it again.") from None
        self._in = self._it.get_input_details()[0]["index"]
        outs = {int(d["shape"][-1]): d["index"] for d in self._it.get_output_details()}
        if 2048 not in outs:
            raise ModelUnavailable(f"The cached converted model {path} has no 2048-d feature output; delete it.")
        self._feat_out, self._prob_out = outs[2048], outs.get(1000)
        self.random = random_weights
        self.labels = None if random_weights or self._prob_out is None else imagenet_classes()

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = batch.astype(np.float32) / 127.5 - 1.0
        feats, probs = [], []
        for frame in x:
            self._it.set_tensor(self._in, np.ascontiguousarray(frame[None]))
            self._it.invoke()
            feats.append(self._it.get_tensor(self._feat_out).reshape(-1).copy())
            if self._prob_out is not None:
                probs.append(self._it.get_tensor(self._prob_out).reshape(-1).copy())
        f = np.stack(feats).astype(np.float32)
        p = np.stack(probs).astype(np.float32) if probs and not self.random else None
        return f, p


def convert_to_bytes(model) -> bytes:
    """The conversion recipe: TFLite with dynamic-range quantization (int8 weights, float activations)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def convert(keras_backend, target: Path, threads: int = 0) -> tuple[Path, float] | None:
    """Convert a built Keras InceptionBackend; returns (path, min cosine) or None when the result is refused.

    The file is written to a temporary name, checked, then renamed into place, so a killed conversion or a
    concurrent one never leaves a half-written model behind.
    """
    import tensorflow as tf

    started = time.monotonic()
    log.warning("Converting InceptionV3 to TFLite once for faster features (takes a minute); it is cached at %s",
                target)
    with native_output_captured("the TFLite converter"):
        data = convert_to_bytes(keras_backend.float_model)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".converting-", suffix=".tflite", dir=target.parent)
    except OSError as exc:
        log.warning("Cannot write the converted model to %s (%s); using a temporary copy this run.",
                    target.parent, exc.strerror)
        fd, tmp_name = tempfile.mkstemp(suffix=".tflite")
        target = Path(tmp_name + ".checked.tflite")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        images = check_images()
        reference, _ = keras_backend.embed(images)
        candidate = ConvertedInceptionBackend(tmp, keras_backend.random, threads)
        got, _ = candidate.embed(images)
        cosine = float(_cosines(reference, got).min())
        if not cosine >= MIN_COSINE:
            log.warning("The converted InceptionV3 differs from Keras (feature cosine %.5f < %.2f); it is not used "
                        "and Keras computes the features.", cosine, MIN_COSINE)
            return None
        os.replace(tmp, target)
        meta = {"cosine_min": round(cosine, 6), "tensorflow": tf.__version__, "bytes": len(data),
                "seconds": round(time.monotonic() - started, 1), "format": FORMAT}
        target.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        log.info("converted InceptionV3 in %.0f s (feature cosine %.5f against Keras)", meta["seconds"], cosine)
        return target, cosine
    finally:
        if tmp.exists():
            tmp.unlink()
