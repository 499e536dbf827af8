"""One model process that batches frames across videos, for a model on a GPU.

Each decode worker connects to the model process and sends each video's model-ready frames as one request (at
most one request in flight per worker, so what waits is bounded). The model process takes every request that is
waiting, up to `max_batch` frames from many videos at once, runs the model and answers each worker. The batch size
follows the model's throughput, not one video's frame count, and the GPU stays busy while the workers decode.
Workers see a `RemoteBackend`, which looks like any other feature backend.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener, wait

import numpy as np

from organizer.errors import ModelUnavailable
from organizer.features import FeatureSpec, load_backend
from organizer.engine.spawn import STARTUP_SECONDS, load_or_report, peak_rss_mib, start_child

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.005       # after the first request, wait this long for others to batch with it


class RemoteBackend:
    """A feature backend in a worker that forwards frames to the model process."""

    def __init__(self, handle: "RemoteHandle"):
        self.name, self.input_size, self.labels = handle.name, handle.input_size, handle.labels
        try:
            self._conn = Client(handle.address, family="AF_UNIX", authkey=handle.authkey)
        except OSError as exc:
            raise ModelUnavailable(f"The model process cannot be reached ({exc.strerror}).") from None

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            self._conn.send(np.ascontiguousarray(batch))
            features, scores = self._conn.recv()
        except (EOFError, OSError):
            raise ModelUnavailable("The model process stopped; run again with --debug to see why.") from None
        if isinstance(features, str):
            raise ModelUnavailable(features)
        return features, scores


class RemoteHandle:
    """What a worker needs to reach the model process (picklable)."""

    def __init__(self, address: str, authkey: bytes, name: str, input_size: int, labels):
        self.address, self.authkey = address, authkey
        self.name, self.input_size, self.labels = name, input_size, labels

    def connect(self) -> RemoteBackend:
        return RemoteBackend(self)


def serve(parent, spec: FeatureSpec, address: str, authkey: bytes, max_batch: int) -> None:
    """The model process: load the model, accept workers, answer batched requests until the parent says stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    backend = load_or_report(parent, lambda: load_backend(spec))
    if backend is None:
        return
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    clients: list = []
    lock = threading.Lock()

    def accept() -> None:
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError):
                return
            with lock:
                clients.append(conn)
    threading.Thread(target=accept, daemon=True, name="organize-model-accept").start()
    parent.send(("ready", backend.name, backend.input_size, backend.labels))
    busy, frames, calls = 0.0, 0, 0
    while True:
        with lock:
            current = list(clients)
        ready = wait(current + [parent], timeout=0.05)
        if parent in ready:
            break                                   # the parent says stop (or is gone)
        if ready:
            wait(current, timeout=GATHER_SECONDS)   # let other workers' requests join this batch
            started = time.monotonic()
            frames += _answer(backend, _requests(current, clients, lock), max_batch)
            busy, calls = busy + time.monotonic() - started, calls + 1
    parent.send(("bye", {"peak_rss": peak_rss_mib(), "model_busy": round(busy, 3), "model_frames": frames,
                         "model_calls": calls}))
    listener.close()


def _requests(current: list, clients: list, lock) -> list[tuple]:
    """(connection, frames) for every worker with a request waiting; closed connections are dropped."""
    waiting = []
    for conn in current:
        if not conn.poll():
            continue
        try:
            waiting.append((conn, conn.recv()))
        except (EOFError, OSError):
            with lock:
                clients.remove(conn)
    return waiting


def embed_padded(backend, x: np.ndarray, max_batch: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Embed in chunks of at most max_batch, each padded to one of the backend's batch sizes when it has them (a
    compiled model then meets a handful of shapes instead of one per request)."""
    sizes = getattr(backend, "batch_sizes", None)
    feats, scores = [], []
    for start in range(0, len(x), max_batch):
        chunk = x[start:start + max_batch]
        n = len(chunk)
        size = next((s for s in sizes if s >= n), n) if sizes else n
        if size > n:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - n, axis=0)])
        f, s = backend.embed(chunk)
        feats.append(f[:n])
        if s is not None:
            scores.append(s[:n])
    return np.concatenate(feats), (np.concatenate(scores) if scores else None)


def _answer(backend, waiting: list[tuple], max_batch: int) -> int:
    """Run the waiting requests through the model as one batch and answer each; returns the frames."""
    if not waiting:
        return 0
    x = np.concatenate([frames for _, frames in waiting])
    try:
        features, scores = embed_padded(backend, x, max_batch)
    except Exception as exc:
        answers = [(f"The feature model failed ({type(exc).__name__}: {exc}).", None)] * len(waiting)
    else:
        bounds = np.cumsum([0] + [len(frames) for _, frames in waiting])
        answers = [(features[a:b], None if scores is None else scores[a:b]) for a, b in zip(bounds, bounds[1:])]
    for (conn, _), answer in zip(waiting, answers):
        try:
            conn.send(answer)
        except OSError:       # that worker died meanwhile
            pass
    return len(x)


class ModelServer:
    """The model process, seen from the parent."""

    def __init__(self, spec: FeatureSpec, debug: bool = False, max_batch: int = 256):

        self._dir = tempfile.mkdtemp(prefix="organize-model-")
        self.address = os.path.join(self._dir, "model.sock")
        self.authkey = secrets.token_bytes(16)
        self.proc, self.conn = start_child(("model", spec, self.address, self.authkey, max_batch), debug)
        if not self.conn.poll(STARTUP_SECONDS):
            self.stop()
            raise ModelUnavailable("The model process did not start within 15 minutes.")
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise ModelUnavailable(f"The model process died while loading the model (exit code "
                                   f"{self.proc.wait()}); run with --debug to see why.") from None
        if message[0] == "fatal":
            self.stop()
            raise ModelUnavailable(message[1])
        self.name, self.input_size, self.labels = message[1:]

    def handle(self) -> RemoteHandle:
        return RemoteHandle(self.address, self.authkey, self.name, self.input_size, self.labels)

    def stop(self) -> dict:
        """Stop the model process; returns what it measured: peak memory (MiB), seconds busy, frames, calls."""
        stats = {}
        try:
            if self.proc.poll() is None:
                self.conn.send(None)
                if self.conn.poll(30):
                    message = self.conn.recv()
                    stats = message[1] if message[0] == "bye" else {}
        except (OSError, EOFError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
        return stats
