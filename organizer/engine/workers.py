"""Worker processes: where decoders and models run, so that a crash or a hang costs one file, not the run.

`run_job` is the worker function (the same in this process, in a worker process and in a Ray actor). A
`WorkerProcess` is one spawned child that loads the model once and analyses one video at a time; the parent reads
its answers, its death (signal) or its silence (time limit), and turns each into an `Outcome`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from organizer.analysis.video import AnalysisParams, analyse_video
from organizer.analysis.decode import frames_at
from organizer.errors import ModelUnavailable, OrganizerError, VideoUnreadable
from organizer.features import FeatureSpec, load_backend
from organizer.analysis.images import encode_jpeg
from organizer.types import Analysis
from organizer.engine.spawn import STARTUP_SECONDS, load_or_report, peak_rss_mib, start_child

log = logging.getLogger(__name__)

FAULT_ENV = "ORGANIZER_WORKER_FAULT"     # tests: "crash:NAME,abort:NAME,hang:NAME,raise:NAME,slow:NAME" misbehave on NAME
SIGNAL_NAMES = {signal.SIGSEGV: "signal 11", signal.SIGABRT: "an abort", signal.SIGKILL: "signal 9",
                signal.SIGBUS: "signal 7", signal.SIGILL: "signal 4", signal.SIGFPE: "signal 8"}


@dataclass(frozen=True)
class Job:
    """One video to work on: its content key (fingerprint), where it is, its size (big ones go first), and the
    task: "analyse" it, "stills" (full-size JPEGs of the frames numbered in `frames`), or "export" (both, for
    the keyframes it finds)."""

    key: str
    path: str
    size: int = 0
    label: str = ""
    task: str = "analyse"
    frames: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What became of a job: an analysis (or stills), or why there is none."""

    job: Job
    analysis: Analysis | None = None
    failure: str | None = None
    remember: bool = False            # the failure belongs to the content: remember it under its fingerprint
    backend: str = ""                 # the backend that computed the features
    stills: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.failure is None


def run_job(job: Job, params: AnalysisParams, backend) -> Outcome:
    """Do one job; a problem with this video becomes a failed Outcome, a model problem is raised."""
    try:
        _misbehave(job)
        analysis = None if job.task == "stills" else analyse_video(job.path, params, backend)
        frames = job.frames if analysis is None else analysis.keyframes.frame_numbers
        stills = ()
        if job.task in ("stills", "export"):
            full = frames_at(job.path, list(frames), side=None)
            stills = tuple((n, encode_jpeg(f, 92)) for n, f in zip(full.indices, full.frames))
        return Outcome(job, analysis, backend=backend.name if analysis else "", stills=stills)
    except VideoUnreadable as exc:
        return Outcome(job, failure=str(exc), remember=True)
    except OrganizerError:
        raise                      # the model or the settings: it concerns every video
    except MemoryError:
        return Outcome(job, failure="needed more memory than there is; it was left alone", remember=True)
    except Exception as exc:       # one bad video never aborts the batch
        log.debug("unexpected failure on %s", job.path, exc_info=True)
        return Outcome(job, failure=f"could not be processed ({type(exc).__name__}: {exc})")


def death_reason(exitcode: int | None) -> str:
    """A sentence for a worker that died while working on a file."""
    if exitcode is not None and exitcode < 0:
        name = SIGNAL_NAMES.get(-exitcode, f"signal {-exitcode}")
        if -exitcode == signal.SIGKILL:
            return "the process analysing this file was killed (signal 9, perhaps out of memory); it was left alone"
        return f"the video decoder crashed on this file ({name}); it was left alone"
    return f"the process analysing this file stopped unexpectedly (exit code {exitcode}); it was left alone"


# ------------------------------------------------------------------------------------------ the child side
class _PipeLog(logging.Handler):
    """Sends the worker's warnings to the parent, which logs them as its own."""

    def __init__(self, conn):
        super().__init__(logging.WARNING)
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.conn.send(("log", record.levelno, record.name, record.getMessage()))
        except Exception:     # the parent is gone: nothing to tell
            pass


def _misbehave(job: Job) -> None:
    for item in filter(None, os.environ.get(FAULT_ENV, "").split(",")):
        kind, _, name = item.partition(":")
        if name and name in os.path.basename(job.path):
            if kind == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif kind == "abort":
                os.abort()
            elif kind == "hang":
                time.sleep(3600)
            elif kind == "slow":
                time.sleep(1.0)
            elif kind == "raise":
                raise RuntimeError("an injected bug")


def _quiet_child(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)         # Ctrl-C is the parent's to handle
    import cv2
    cv2.setNumThreads(threads)


def worker_main(conn, spec: FeatureSpec, params: AnalysisParams, threads: int, debug: bool, remote=None) -> None:
    """The child's loop: load the model once, then one job at a time until told to stop."""
    _quiet_child(threads)
    logging.getLogger().addHandler(_PipeLog(conn))
    logging.getLogger().setLevel(logging.DEBUG if debug else logging.WARNING)
    backend = load_or_report(conn, lambda: remote.connect() if remote is not None
                             else load_backend(spec.with_threads(threads)))
    if backend is None:
        return
    conn.send(("ready", backend.name))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            conn.send(("bye", peak_rss_mib()))
            return
        try:
            conn.send(("done", run_job(job, params, backend)))
        except OrganizerError as exc:
            conn.send(("fatal", str(exc)))
            return


# ----------------------------------------------------------------------------------------- the parent side
class WorkerProcess:
    """One worker child: start it, give it jobs, notice its death; `run_one` drives it synchronously."""

    def __init__(self, spec: FeatureSpec, params: AnalysisParams, threads: int = 1, debug: bool = False,
                 remote=None):
        self._args = (spec, params, threads, debug, remote)
        self.job: Job | None = None
        self.since = 0.0
        self.ready = False
        self.backend = ""
        self.peak_rss = 0.0
        self._start()

    def _start(self) -> None:
        self.proc, self.conn = start_child(("worker", *self._args), self._args[3], self._args[2])
        self.ready, self.job, self.started = False, None, time.monotonic()

    def restart(self) -> None:
        self.kill()
        self._start()

    def send(self, job: Job) -> None:
        self.job, self.since = job, time.monotonic()
        try:
            self.conn.send(job)
        except OSError:            # it died since the last look: the next receive() says so
            pass

    def receive(self):
        """The next message, or ("dead", exit code) when the process is gone (a negative code is a signal)."""
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            try:
                code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
            return ("dead", code)
        if message[0] == "log":
            logging.getLogger(message[2]).log(message[1], "%s", message[3])
        elif message[0] == "ready":
            self.ready, self.backend = True, message[1]
        return message

    def run_one(self, job: Job, timeout: float) -> Outcome:
        """Do one job in the child and wait for it; a crash or a hang costs this job, and the child is replaced."""
        self.wait_ready(max(timeout, STARTUP_SECONDS))
        self.send(job)
        while True:
            message = self.wait_message(timeout - (time.monotonic() - self.since))
            if message[0] == "done":
                self.job = None
                return message[1]
            if message[0] == "fatal":
                raise ModelUnavailable(message[1])
            if message[0] in ("dead", "timeout"):
                outcome = self.lost(message)
                self.restart()
                return outcome

    def wait_ready(self, timeout: float) -> str:
        """Wait for the child to load the model; its backend's name. A model problem raises ModelUnavailable."""
        while not self.ready:
            message = self.wait_message(timeout)
            if message[0] == "fatal":
                raise ModelUnavailable(message[1])
            if message[0] in ("dead", "timeout"):
                raise ModelUnavailable("The worker process could not start (it died while loading the model).")
        return self.backend

    def wait_message(self, timeout: float):
        """The next message other than a log line, ("timeout", t) after `timeout` seconds of silence."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                return ("timeout", timeout)
            message = self.receive()
            if message[0] != "log":
                return message

    def lost(self, message) -> Outcome:
        """The outcome of the job this worker had when it died or ran out of time."""
        job = self.job
        self.job = None
        if message[0] == "timeout":
            return Outcome(job, failure=f"took longer than the time limit of {message[1]:.0f} s "
                                        "(engine.video_timeout); it was stopped and left alone", remember=True)
        return Outcome(job, failure=death_reason(message[1]), remember=True)

    def stop(self, grace: float = 5.0) -> None:
        """Ask an idle child to leave (recording its peak memory); kill a busy or silent one."""
        if self.proc.poll() is None and self.job is None:
            try:
                self.conn.send(None)
                message = self.wait_message(grace)
                if message[0] == "bye":
                    self.peak_rss = message[1]
            except (OSError, EOFError):
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.conn.close()
