"""Analyse many videos: jobs in, outcomes out as they finish. The executor decides where the work runs.

- `LocalExecutor`: a pool of worker processes (the default). Each loads the model once; inference threads are
  split so that workers x threads does not exceed the usable cores. A worker that crashes or overruns the time
  limit costs the one video it had; it is replaced and the run goes on.
- `InlineExecutor`: the same worker function in this process (library use and tests; no isolation).
- `ray_executor.RayExecutor`: Ray actors on a cluster, each holding the same worker process (engine.executor = ray).
With `engine.model_process` on, one model process batches frames across videos for the workers (a GPU).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from typing import Iterator, Protocol, Sequence

from organizer.analysis.video import AnalysisParams
from organizer.errors import ModelUnavailable
from organizer.features import FeatureSpec, load_backend
from organizer.engine.spawn import STARTUP_SECONDS
from organizer.engine.workers import Job, Outcome, WorkerProcess, run_job

__all__ = ["EngineChoice", "Executor", "InlineExecutor", "Job", "LocalExecutor", "Outcome", "make_executor",
           "usable_cores"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineChoice:
    """Where analyses run, as resolved from the settings once per command (pipeline.ResolvedRun)."""

    executor: str = "local"            # local or ray
    workers: int | None = None         # None: one per usable core (local) or per CPU the cluster offers (ray)
    video_timeout: float = 600.0       # seconds one video may take
    ray_address: str = ""
    model_process: bool = False        # one model process batches frames for all workers


class Executor(Protocol):
    """Runs analysis jobs somewhere; after `run` has finished it tells what it measured."""

    peak_rss: list[float]              # MiB: the peak memory of each process it started that has finished
    model_stats: dict                  # what a shared model process measured (busy seconds, frames, calls), or {}

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        """Outcomes in any order, as they finish. A model problem raises ModelUnavailable (it concerns every
        video); a video problem is an Outcome with a failure."""


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not Linux
        return os.cpu_count() or 1


class InlineExecutor:
    """The worker function in this process, one job after another. No isolation: for library use and tests."""

    def __init__(self, spec: FeatureSpec, params: AnalysisParams):
        self.spec, self.params = spec, params
        self.peak_rss: list[float] = []        # nothing runs outside this process
        self.model_stats: dict = {}

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield run_job(job, self.params, load_backend(self.spec))


class LocalExecutor:
    """A pool of worker processes on this machine."""

    def __init__(self, spec: FeatureSpec, params: AnalysisParams, workers: int | None = None,
                 video_timeout: float = 600.0, debug: bool = False, model_process: bool = False):
        self.spec, self.params = spec, params
        self.workers = workers or usable_cores()
        self.threads = max(1, usable_cores() // self.workers)
        if spec.threads:
            self.threads = min(self.threads, spec.threads)
        self.video_timeout = video_timeout
        self.debug = debug
        self.model_process = model_process
        if model_process:         # a video's frames go to the model process in one request; it batches them
            self.params = replace(params, batch_size=params.max_frames * 4)
        self.peak_rss: list[float] = []        # MiB, per worker that finished (and the model process)
        self.model_stats: dict = {}            # what the model process measured (busy seconds, frames, calls)

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        queue = deque(jobs)
        if not queue:
            return
        server = self._start_server() if self.model_process else None
        pool: list[WorkerProcess] = []
        try:
            first = self._spawn(server)
            pool.append(first)
            if _needs_conversion(self.spec):      # one worker converts InceptionV3; the others then load it
                self._await_ready(first)
            pool += [self._spawn(server) for _ in range(min(self.workers, len(queue)) - 1)]
            yield from self._drive(pool, queue)
        finally:
            for worker in pool:
                worker.stop()
                self.peak_rss.append(worker.peak_rss)
            if server is not None:
                self.model_stats = server.stop()
                self.peak_rss.append(self.model_stats.pop("peak_rss", 0.0))

    def _spawn(self, server) -> WorkerProcess:
        remote = server.handle() if server is not None else None
        return WorkerProcess(self.spec, self.params, self.threads, self.debug, remote)

    def _start_server(self):
        from organizer.engine.model_server import ModelServer
        return ModelServer(self.spec, self.debug)

    def _await_ready(self, worker: WorkerProcess) -> None:
        while not worker.ready:
            message = worker.wait_message(STARTUP_SECONDS)
            self._check_start(worker, message)

    @staticmethod
    def _check_start(worker: WorkerProcess, message) -> None:
        if message[0] == "fatal":
            raise ModelUnavailable(message[1])
        if message[0] in ("dead", "timeout") and not worker.ready:
            raise ModelUnavailable(f"A worker process could not load the feature model ({message[0]}, "
                                   f"{message[1]}); run with --debug to see what it printed.")

    def _drive(self, pool: list[WorkerProcess], queue: deque) -> Iterator[Outcome]:
        while queue or any(w.job is not None for w in pool):
            for worker in pool:
                if not worker.ready and time.monotonic() - worker.started > STARTUP_SECONDS:
                    self._check_start(worker, ("timeout", STARTUP_SECONDS))
            for worker in pool:
                if worker.ready and worker.job is None and queue:
                    worker.send(queue.popleft())
            busy = [w for w in pool if w.job is not None]
            deadline = min((w.since + self.video_timeout for w in busy), default=time.monotonic() + 5)
            wait([w.conn for w in pool], max(0.0, deadline - time.monotonic()))   # a death reads as EOF
            for worker in pool:
                yield from self._collect(worker)
            for worker in pool:
                if worker.job is not None and time.monotonic() - worker.since > self.video_timeout:
                    outcome = worker.lost(("timeout", self.video_timeout))
                    worker.restart()
                    yield outcome

    def _collect(self, worker: WorkerProcess) -> Iterator[Outcome]:
        """Everything this worker has said, and its death."""
        while worker.conn.poll():
            message = worker.receive()
            if message[0] == "done":
                worker.job = None
                yield message[1]
            elif message[0] in ("fatal", "dead"):
                self._check_start(worker, message)
                if message[0] == "fatal":
                    raise ModelUnavailable(message[1])
                outcome = worker.lost(message) if worker.job is not None else None
                worker.restart()
                if outcome is not None:
                    yield outcome
                return


def _needs_conversion(spec: FeatureSpec) -> bool:
    if spec.family != "inceptionv3" or spec.runtime == "keras":
        return False
    from organizer.features.convert import converted_path
    return not converted_path(spec).is_file()


def make_executor(spec: FeatureSpec, params: AnalysisParams, engine: EngineChoice, debug: bool = False) -> Executor:
    """The executor the run asks for. Ray is imported only when asked for (a sentence names the extra)."""
    if engine.executor == "ray":
        from organizer.engine.ray_executor import RayExecutor
        return RayExecutor(spec, params, engine.ray_address, engine.workers, engine.video_timeout, debug)
    return LocalExecutor(spec, params, engine.workers, engine.video_timeout, debug, engine.model_process)


def model_process_wanted(asked: str, spec: FeatureSpec) -> bool:
    """Batch frames across videos in one model process: asked for ("on"), or "auto" with Keras on a visible GPU."""
    if asked != "auto":
        return asked == "on"
    keras = spec.family == "inceptionv3" and (spec.runtime == "keras" or os.environ.get(
        "KERAS_BACKEND", "tensorflow") != "tensorflow")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0") not in ("", "-1")
    return keras and visible and os.path.exists("/dev/nvidiactl")
