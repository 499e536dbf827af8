"""InceptionV3 global-average-pool features (2048-d) and ImageNet class scores, through Keras."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import numpy as np

from organizer.errors import ModelUnavailable
from organizer.features.labels import imagenet_classes

log = logging.getLogger(__name__)

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + WEIGHTS_FILE)


def keras_cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / WEIGHTS_FILE


def _online(host: str = "storage.googleapis.com", timeout: float = 5.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def offline_message(detail: str = "") -> str:
    return (f"The InceptionV3 ImageNet weights are not in the Keras cache and cannot be downloaded"
            f"{' (' + detail + ')' if detail else ''}. Keras wants the file {WEIGHTS_FILE}: on a connected machine "
            f"download it from {WEIGHTS_URL} and put it at {keras_cache_path()}, or pass it with --weights PATH. "
            "Alternatives: --model FILE.tflite to use a TFLite image model, or --weights random for a quick "
            "offline test (random weights do not group videos by meaning).")


def import_keras():
    """Keras 3 on whichever backend KERAS_BACKEND names (tensorflow by default; jax and torch work too)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError as exc:
        raise ModelUnavailable(f"Keras cannot be imported ({exc}); install organizer with its dependencies, or "
                               "use --model FILE.tflite.") from None
    return keras


class InceptionBackend:
    input_size = 299
    batch_sizes = (16, 64, 128, 256)   # batches are padded to these: a compiled backend (XLA) traces each once

    def __init__(self, weights: str = "imagenet", seed: int = 0, precision: str = "float32"):
        self.weights = weights
        self.seed = seed
        self.precision = precision
        self.name = "inceptionv3-keras" + ("-bf16" if precision == "bfloat16" else "")
        self.random = weights == "random"
        if weights == "imagenet" and not keras_cache_path().exists() and not _online():
            raise ModelUnavailable(offline_message("this machine is offline"))
        if weights not in ("imagenet", "random") and not Path(weights).is_file():
            raise ModelUnavailable(f"The weights file {weights} does not exist. Pass an .h5 or .keras file saved "
                                   "from InceptionV3, 'imagenet' or 'random'.")
        self._model = self._build()
        # With random weights the classifier head is noise: its "classes" must not name anything.
        self.labels = None if self.random else imagenet_classes()

    def _build(self):
        keras = import_keras()
        if self.precision == "bfloat16":      # bf16 tensor cores (GPUs, AMX CPUs); features differ a little
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            if self.random:
                keras.utils.set_random_seed(self.seed)
                base = keras.applications.InceptionV3(weights=None, include_top=True)
            elif self.weights == "imagenet":
                base = keras.applications.InceptionV3(weights="imagenet", include_top=True)
            else:
                base = keras.applications.InceptionV3(weights=None, include_top=True)
                base.load_weights(self.weights)
        except ModelUnavailable:
            raise
        except Exception as exc:  # download errors, h5 errors: one clear sentence, no traceback
            if self.weights == "imagenet":
                raise ModelUnavailable(offline_message(str(exc).splitlines()[0][:120])) from None
            raise ModelUnavailable(f"Could not load InceptionV3 weights from {self.weights} "
                                   f"({str(exc).splitlines()[0][:160]}). The file must hold full InceptionV3 "
                                   "weights (with the classifier head) saved by Keras.") from None
        self.float_model = keras.Model(base.input, [base.get_layer("avg_pool").output, base.output])
        # The model takes the uint8 frames and scales them to [-1, 1] itself: on a GPU that happens on the device,
        # and a quarter of the bytes cross the bus (scaling 256 frames in NumPy took longer than the network).
        frames = keras.Input((self.input_size, self.input_size, 3), dtype="uint8")
        scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(frames)
        return keras.Model(frames, self.float_model(scaled))

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        features, probs = self._model.predict_on_batch(np.ascontiguousarray(batch, dtype=np.uint8))
        features = np.asarray(features, dtype=np.float32)
        return features, (None if self.random else np.asarray(probs, dtype=np.float32))
