"""The analysis on a Ray cluster: `engine.executor = "ray"` (the `organizer[ray]` extra).

The driver (the process that runs `organize`) keeps the state, clustering, the plan and every file move. Ray actors,
one per CPU the cluster offers (or `--workers`), each hold one worker process: the same child and the same
`run_job` as the local engine, so the model is loaded once per actor and a decoder crash costs one file, with the
same reason as on one machine, while the actor lives on. Actors take small batches of videos; their answers come
back as they finish, with at most IN_FLIGHT batches queued per actor.

An actor lost with its process or its node is restarted by Ray, and its unfinished batches are sent again, at most
MAX_ATTEMPTS times. The library must be on shared storage mounted at the same path on every node: an actor that
cannot see a file says so, and the file is skipped with that reason (not remembered: the node is at fault, not the
file). Ray is imported only here, and only when asked for.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from collections import deque
from typing import Iterator, Sequence

from organizer.analysis.video import AnalysisParams
from organizer.errors import ConfigError, ModelUnavailable, OrganizerError
from organizer.features import FeatureSpec
from organizer.engine.spawn import STARTUP_SECONDS, peak_rss_mib
from organizer.engine.workers import Job, Outcome, WorkerProcess

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3          # a batch whose actor is lost is sent again, up to this many tries in all
IN_FLIGHT = 2             # batches queued per actor: one running, one waiting
EXTRA = "pip install 'organizer[ray]'"


def import_ray():
    """The ray module, or a sentence that names the extra."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"The Ray executor needs Ray, an optional extra: {EXTRA} (on this machine and on every "
                          "node of the cluster), or run with --executor local.") from None
    return ray


def not_visible(path: str, node: str) -> str | None:
    """Why this node cannot see the file (the library is not on shared storage here), or None."""
    try:
        os.stat(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return (f"is not visible on the Ray node {node} (no such file there); the library must be on shared storage "
                "mounted at the same path on every node")
    except OSError:
        pass                 # anything else is the worker's to find and explain, as on one machine
    return None


class AnalysisActor:
    """Lives in a Ray worker process: one worker child that loads the model once and analyses one video at a time."""

    def __init__(self, spec: FeatureSpec, params: AnalysisParams, threads: int, debug: bool, video_timeout: float):
        self.worker = WorkerProcess(spec, params, threads, debug)
        self.video_timeout = video_timeout
        self.node = socket.gethostname()

    def ready(self) -> str:
        """Wait until the model is loaded; the node's name. A model problem raises ModelUnavailable."""
        self.worker.wait_ready(STARTUP_SECONDS)
        return self.node

    def analyse(self, jobs: Sequence[Job]) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            reason = not_visible(job.path, self.node)
            outcomes.append(Outcome(job, failure=reason) if reason else self.worker.run_one(job, self.video_timeout))
        return outcomes

    def stop(self) -> float:
        """Let the worker go; the peak memory (MiB) of this actor and its worker."""
        self.worker.stop()
        return self.worker.peak_rss + peak_rss_mib()


def _cluster_errors_to_log() -> None:
    """Ray prints its cluster's error messages (such as a lost worker, which we report ourselves) on stdout, which
    `--json` keeps for its one object: send them to our debug log instead."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or getattr(original, "organizer", False):
        return

    def to_log(data, ignore_prefix):
        if data.get("pid") != "raylet":
            return original(data, ignore_prefix)
        for line in data.get("lines", []):
            log.debug("Ray: %s", line)
    to_log.organizer = True
    ray_worker.print_to_stdstream = to_log


def cpu_share(nodes: list[float], count: int) -> float:
    """The CPUs each of `count` actors asks for: 1, or, where there are more actors than CPUs, the largest share
    (at most 1, to Ray's 0.0001 granularity) with which all of them fit on the nodes' CPUs (nodes: CPUs per node)."""
    def fits(share: float) -> bool:
        return sum(int(c / share + 1e-9) for c in nodes) >= count
    if not nodes or fits(1.0):
        return 1.0
    shares = [c / m for c in nodes if c > 0 for m in range(1, count + 1)]
    best = max((f for f in shares if f <= 1.0 and fits(f)), default=0.0001)
    return max(0.0001, math.floor(best * 10_000) / 10_000)


def batch_size(jobs: int, actors: int) -> int:
    """Videos per call: one for small libraries (a smooth progress bar), up to 8 where there is plenty to share."""
    return max(1, min(8, jobs // max(1, actors * 4 * IN_FLIGHT)))


class RayExecutor:
    """Ray actors on an existing cluster (address, RAY_ADDRESS) or on a Ray started here for the run."""

    def __init__(self, spec: FeatureSpec, params: AnalysisParams, address: str = "", workers: int | None = None,
                 video_timeout: float = 600.0, debug: bool = False):
        self.spec, self.params = spec, params
        self.address = address
        self.workers = workers
        self.video_timeout = video_timeout
        self.debug = debug
        self.peak_rss: list[float] = []
        self.model_stats: dict = {}            # Ray runs no shared model process
        self.ray = import_ray()

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        if not jobs:
            return
        ray = self.ray
        connected_here = self._connect()
        actors: list = []
        try:
            nodes = [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
            count = min(self.workers or max(1, int(sum(nodes))), len(jobs))
            actors = self._start_actors(count, cpu_share(nodes, count))
            size = batch_size(len(jobs), count)
            batches = deque((tuple(jobs[i:i + size]), 1) for i in range(0, len(jobs), size))
            yield from self._drive(actors, batches)
        finally:
            self._stop(actors)
            if connected_here:
                ray.shutdown()

    # --------------------------------------------------------------------------------------------- set-up
    def _connect(self) -> bool:
        """Connect (or start a local Ray); False when this process was already connected."""
        ray = self.ray
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        forwarded = {k: v for k, v in os.environ.items() if k.startswith("ORGANIZER_")}
        try:
            ray.init(address=address, log_to_driver=self.debug,
                     logging_level=logging.INFO if self.debug else logging.ERROR,
                     runtime_env={"env_vars": forwarded} if forwarded else None)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise ConfigError(f"Could not connect to {where} ({exc}). Check --ray-address (engine.ray_address) and "
                              "that the cluster runs the same Ray and Python versions, or run with --executor "
                              "local.") from None
        _cluster_errors_to_log()
        return True

    def _start_actors(self, count: int, cpus_each: float = 1.0) -> list:
        """count actors of cpus_each CPUs (less than one where --workers asks for more actors than the cluster has
        CPUs: they share, as local workers beyond the cores do, instead of waiting for CPUs that never come)."""
        remote = self.ray.remote(num_cpus=cpus_each, max_restarts=-1, max_task_retries=0)(AnalysisActor)
        threads = self.spec.threads or 1

        def start():
            return remote.remote(self.spec, self.params, threads, self.debug, self.video_timeout)
        first = start()
        self._get(first.ready.remote(), STARTUP_SECONDS)      # the model loads (or is converted) once, first
        return [first] + [start() for _ in range(count - 1)]

    def _get(self, ref, timeout: float | None = None):
        """ray.get, with a model problem raised as ModelUnavailable (it concerns every video)."""
        ray = self.ray
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, OrganizerError):
                raise ModelUnavailable(str(cause)) from None
            raise ModelUnavailable(f"A Ray worker could not start the analysis ({cause or exc}); run with --debug "
                                   "to see its output.") from None
        except ray.exceptions.GetTimeoutError:
            raise ModelUnavailable(f"A Ray worker did not load the feature model within {STARTUP_SECONDS:.0f} s; "
                                   "check that the cluster has free CPUs and run with --debug.") from None

    def _stop(self, actors: list) -> None:
        ray = self.ray
        stops = [a.stop.remote() for a in actors]
        if stops:
            ready, _ = ray.wait(stops, num_returns=len(stops), timeout=10)
            for ref in ready:
                try:
                    self.peak_rss.append(float(ray.get(ref)))
                except ray.exceptions.RayError:
                    pass
        for actor in actors:
            ray.kill(actor, no_restart=True)

    # ------------------------------------------------------------------------------------------ the loop
    def _drive(self, actors: list, batches: deque) -> Iterator[Outcome]:
        ray = self.ray
        flying: dict = {}                       # ref -> (actor index, batch, attempt, deadline)
        load = [0] * len(actors)
        while batches or flying:
            for i in sorted(range(len(actors)), key=load.__getitem__):
                while batches and load[i] < IN_FLIGHT:
                    batch, attempt = batches.popleft()
                    limit = STARTUP_SECONDS + IN_FLIGHT * len(batch) * (self.video_timeout + 60)
                    flying[actors[i].analyse.remote(list(batch))] = (i, batch, attempt, time.monotonic() + limit)
                    load[i] += 1
            done, _ = ray.wait(list(flying), num_returns=1, timeout=5.0)
            for ref in done:
                i, batch, attempt, _ = flying.pop(ref)
                load[i] -= 1
                yield from self._answer(ref, batch, attempt, batches)
            for ref, (i, batch, _, deadline) in list(flying.items()):
                if time.monotonic() > deadline:       # the cluster lost it without telling (a node gone for good)
                    flying.pop(ref)
                    load[i] -= 1
                    with contextlib.suppress(Exception):      # best effort: the node may be gone
                        ray.cancel(ref)
                    yield from (Outcome(job, failure="the Ray cluster did not finish it in time; it was left alone "
                                        "and will be tried again on the next run") for job in batch)

    def _answer(self, ref, batch: tuple[Job, ...], attempt: int, batches: deque) -> Iterator[Outcome]:
        ray = self.ray
        try:
            yield from self._get(ref)
        except ray.exceptions.RayError as exc:       # the actor, its process or its node was lost
            if attempt < MAX_ATTEMPTS:
                log.info("A Ray worker was lost (%s); its %d video(s) are sent again.", type(exc).__name__, len(batch))
                batches.appendleft((batch, attempt + 1))
                return
            yield from (Outcome(job, failure=f"the Ray worker analysing this file was lost {MAX_ATTEMPTS} times "
                                f"({type(exc).__name__}); it was left alone and will be tried again on the next run")
                        for job in batch)
