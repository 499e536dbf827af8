"""Any TFLite image model as a feature extractor: input size, dtype and quantization are read from the model."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable

log = logging.getLogger(__name__)


def make_interpreter(path: Path, threads: int = 0):
    """LiteRT's interpreter (ai-edge-litert), falling back to TensorFlow's."""
    kwargs = {"model_path": str(path), "num_threads": threads or os.cpu_count() or 1}
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    return Interpreter(**kwargs)


class TFLiteBackend:
    def __init__(self, path: Path, labels_path: str | None = None, threads: int = 0, batch: int = 8):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelUnavailable(f"The model file {path} does not exist; check the path given to --model.")
        try:
            self._it = make_interpreter(self.path, threads)
        except Exception as exc:
            raise ModelUnavailable(f"{path} is not a usable TFLite model ({str(exc)[:160]}).") from None
        inp = self._it.get_input_details()[0]
        shape = inp["shape"]
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise ModelUnavailable(f"{path} does not take square RGB images (its input shape is {list(shape)}); "
                                   "use an image model with input [1, N, N, 3].")
        self.input_size = int(shape[1])
        self.name = self.path.stem
        self._in_dtype = inp["dtype"]
        self._in_quant = inp.get("quantization", (0.0, 0))
        self._batch = 1
        if batch > 1:
            try:  # some models reshape to a batch; others (their delegates) refuse, and run a frame a time
                self._it.resize_tensor_input(inp["index"], [batch, self.input_size, self.input_size, 3])
                self._it.allocate_tensors()
                self._batch = batch
            except Exception:
                self._it = make_interpreter(self.path, threads)
        if self._batch == 1:
            self._it.allocate_tensors()
        self._in_index = self._it.get_input_details()[0]["index"]
        out = self._it.get_output_details()[0]
        self._out_index, self._out_quant = out["index"], out.get("quantization", (0.0, 0))
        self.labels = None
        if labels_path:
            names = [ln.strip() for ln in Path(labels_path).read_text(encoding="utf-8").splitlines()]
            width = int(np.prod(out["shape"][1:]))
            if len(names) != width:
                raise ModelUnavailable(f"The labels file {labels_path} has {len(names)} lines but the model gives "
                                       f"{width} scores; pass the labels that belong to {self.path.name}.")
            self.labels = names

    def _prepare(self, batch: np.ndarray) -> np.ndarray:
        real = batch.astype(np.float32) / 127.5 - 1.0   # the usual [-1, 1] image range of ImageNet models
        if np.issubdtype(self._in_dtype, np.integer):
            scale, zero = self._in_quant
            if not scale:
                return batch.astype(self._in_dtype)
            info = np.iinfo(self._in_dtype)
            return np.clip(np.round(real / scale + zero), info.min, info.max).astype(self._in_dtype)
        return real.astype(self._in_dtype)

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._it.set_tensor(self._in_index, x)
        self._it.invoke()
        out = self._it.get_tensor(self._out_index).reshape(len(x), -1).astype(np.float32)
        scale, zero = self._out_quant
        return (out - zero) * scale if scale else out

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = self._prepare(batch)
        outs = []
        for start in range(0, len(x), self._batch):
            chunk = x[start:start + self._batch]
            n = len(chunk)
            if n < self._batch:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self._batch - n, axis=0)])
            outs.append(self._run(chunk)[:n])
        out = np.concatenate(outs)
        return out, (out if self.labels else None)
