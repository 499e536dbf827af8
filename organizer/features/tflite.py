"""Any TFLite image model as a feature extractor: input size, dtype and quantization are read from the model."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from organizer.errors import ModelUnavailable
from organizer.features.labels import read_labels

log = logging.getLogger(__name__)


@contextlib.contextmanager
def native_output_captured(what: str):
    """Native libraries print straight to file descriptors 1 and 2 (LiteRT: "INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU."; the converter: pages of tensor specs), which breaks progress bars, --json and quiet
    cron runs. Send fds 1 and 2 to a temporary file for the duration; what was printed goes to the debug log."""
    sink = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        sink.seek(0)
        text = sink.read()
        sink.close()
        if text.strip():
            log.debug("%s printed:\n%s", what, text[-4000:])


def make_interpreter(path: Path, threads: int = 0, batch: int = 1, size: int = 0, keep_tensors: bool = False):
    """LiteRT's interpreter (ai-edge-litert; TensorFlow's where LiteRT is missing), tensors allocated (for a batch
    when asked), its console chatter captured. keep_tensors keeps intermediate tensors readable after invoke."""
    kwargs = {"model_path": str(path), "num_threads": threads or os.cpu_count() or 1}
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    if keep_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    with native_output_captured("LiteRT"), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # preserve_all_tensors warns that it is meant for debugging
        it = Interpreter(**kwargs)
        if batch > 1:
            it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, size, size, 3])
        it.allocate_tensors()
    return it


CLASS_COUNTS = (1000, 1001)      # an output this wide is ImageNet class scores


def _dequantize(values: np.ndarray, quantization) -> np.ndarray:
    scale, zero = quantization
    values = values.astype(np.float32)
    return (values - zero) * scale if scale else values


class TFLiteBackend:
    """Any square-RGB-input TFLite image model. For a classifier (ImageNet-wide output, or labels given) the
    features are the last feature map averaged over space (what the classifier head sees), and the output is kept as
    class scores; for any other model the output is the feature vector."""

    def __init__(self, path: Path, labels_path: str | None = None, threads: int = 0, batch: int = 8):
        self.path = Path(path)
        self.name = self.path.stem
        if not self.path.is_file():
            raise ModelUnavailable(f"The model file {path} does not exist; check the path given to --model.")
        try:
            probe = make_interpreter(self.path, threads)
        except Exception as exc:
            raise ModelUnavailable(f"{path} is not a usable TFLite model ({str(exc)[:160]}).") from None
        inp, out = probe.get_input_details()[0], probe.get_output_details()[0]
        shape = inp["shape"]
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise ModelUnavailable(f"{path} does not take square RGB images (its input shape is {list(shape)}); "
                                   "use an image model with input [1, N, N, 3].")
        self.input_size = int(shape[1])
        self._in_dtype, self._in_quant = inp["dtype"], inp.get("quantization", (0.0, 0))
        width = int(np.prod(out["shape"][1:]))
        self.labels = self._labels(labels_path, width)
        self._features = _feature_map(probe) if (self.labels or width in CLASS_COUNTS) else None
        self.classifier = self._features is not None
        self._it, self._batch = probe, 1
        if batch > 1:
            try:   # some models take a batch; others (their delegates) refuse, and run a frame at a time
                self._it = make_interpreter(self.path, threads, batch, self.input_size, self.classifier)
                self._batch = batch
            except Exception:
                self._it = make_interpreter(self.path, threads, keep_tensors=self.classifier)
        elif self.classifier:
            self._it = make_interpreter(self.path, threads, keep_tensors=True)
        self._in_index = self._it.get_input_details()[0]["index"]
        self._out_index, self._out_quant = out["index"], out.get("quantization", (0.0, 0))

    def _labels(self, labels_path: str | None, width: int) -> list[str] | None:
        if not labels_path:
            return None
        names = read_labels(labels_path)
        if len(names) != width and width not in CLASS_COUNTS:
            return None          # an embedding model: no class scores to name (the run says the labels went unused)
        if len(names) != width:
            raise ModelUnavailable(f"The labels file {labels_path} has {len(names)} lines but the model gives "
                                   f"{width} scores; pass the labels that belong to {self.path.name}.")
        return names

    def _prepare(self, batch: np.ndarray) -> np.ndarray:
        real = batch.astype(np.float32) / 127.5 - 1.0   # the usual [-1, 1] image range of ImageNet models
        if np.issubdtype(self._in_dtype, np.integer):
            scale, zero = self._in_quant
            if not scale:
                return batch.astype(self._in_dtype)
            info = np.iinfo(self._in_dtype)
            return np.clip(np.round(real / scale + zero), info.min, info.max).astype(self._in_dtype)
        return real.astype(self._in_dtype)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self._it.set_tensor(self._in_index, x)
        self._it.invoke()
        out = _dequantize(self._it.get_tensor(self._out_index).reshape(len(x), -1), self._out_quant)
        if self._features is None:
            return out, None
        index, quantization = self._features
        pooled = _dequantize(self._it.get_tensor(index), quantization).mean(axis=(1, 2))
        return pooled, out

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = self._prepare(batch)
        feats, scores = [], []
        for start in range(0, len(x), self._batch):
            chunk = x[start:start + self._batch]
            n = len(chunk)
            if n < self._batch:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self._batch - n, axis=0)])
            f, s = self._run(chunk)
            feats.append(f[:n])
            if s is not None:
                scores.append(s[:n])
        return np.concatenate(feats), (np.concatenate(scores) if scores else None)


def _feature_map(it) -> tuple[int, tuple] | None:
    """(tensor index, quantization) of the last feature map with a spatial extent: averaged over space it is what
    a classifier's head takes (the penultimate layer)."""
    maps = [t for t in it.get_tensor_details() if len(t["shape"]) == 4 and t["shape"][1] > 1 and t["shape"][2] > 1]
    if not maps:
        return None
    last = max(maps, key=lambda t: t["index"])
    return int(last["index"]), tuple(last.get("quantization", (0.0, 0)))
