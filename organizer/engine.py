"""Analyse many videos: jobs in, outcomes out as they finish. The executor decides where the work runs.

`InlineExecutor` runs the worker function in this process (decoding one or two videos ahead in a thread).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from .analysis import AnalysisParams, analyse_video, sample
from .errors import OrganizerError, VideoUnreadable
from .features import FeatureSpec, load_backend
from .types import Analysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One video to analyse: its content key (fingerprint), where it is, and its size (big ones go first)."""

    key: str
    path: str
    size: int = 0
    label: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of a job: an analysis, or why there is none."""

    job: Job
    analysis: Analysis | None = None
    failure: str | None = None
    remember: bool = False            # the failure is the content's (remember it), not a passing problem
    backend: str = ""                 # the name of the backend that computed the features


class Executor(Protocol):
    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        """Outcomes in any order, as they finish. A model problem raises ModelUnavailable (it concerns every
        video); a video problem is an Outcome with a failure."""


def prefetch(items: list, fn, depth: int = 2) -> Iterator[tuple[object, object, BaseException | None]]:
    """Yield (item, fn(item), None) or (item, None, error) in order, computing fn up to `depth` items ahead in a
    background thread. The queue is bounded, so at most depth + 2 results exist at once whatever the input size."""
    results: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                results.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        for item in items:
            if stop.is_set():
                return
            try:
                value = (item, fn(item), None)
            except BaseException as exc:      # handed to the consumer, which decides
                value = (item, None, exc)
            if not put(value):
                return
        put(done)

    worker = threading.Thread(target=work, name="organize-decode", daemon=True)
    worker.start()
    try:
        while True:
            value = results.get()
            if value is done:
                return
            yield value
    finally:
        stop.set()
        worker.join(timeout=30)


class InlineExecutor:
    """Runs the analysis in this process: decoding in a background thread, the model in the caller's thread."""

    def __init__(self, spec: FeatureSpec, params: AnalysisParams):
        self.spec, self.params = spec, params

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        decoded = prefetch(list(jobs), lambda job: sample(job.path, self.params))
        try:
            for job, sampled, error in decoded:
                yield self._one(job, sampled, error)
        finally:
            decoded.close()

    def _one(self, job: Job, sampled, error) -> Outcome:
        try:
            if error is not None:
                raise error
            backend = load_backend(self.spec)
            return Outcome(job, analyse_video(job.path, self.params, backend, sampled), backend=backend.name)
        except VideoUnreadable as exc:
            return Outcome(job, failure=str(exc), remember=True)
        except OrganizerError:
            raise          # model, configuration or state problems concern every video
        except Exception as exc:   # one bad video never aborts the batch
            log.debug("unexpected failure on %s", job.path, exc_info=True)
            return Outcome(job, failure=f"could not be processed ({type(exc).__name__}: {exc})")
