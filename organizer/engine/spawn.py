"""How organize starts its own Python child processes (workers, the model process, the completeness probe), and
what every child shares: its environment, its first words to the parent, its peak memory.

A child runs `python -m organizer...`; its environment makes this organizer importable even when it is not
installed (a checkout on PYTHONPATH), and can cap the thread pools of the native libraries before they start.
Imports only errors: workers and the model server build on it, organizer.engine.child dispatches to them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from organizer.errors import OrganizerError

HOME = str(Path(__file__).resolve().parents[2])        # the folder that holds the organizer package
STARTUP_SECONDS = 900.0    # a child may take this long to load the model (a first InceptionV3 conversion)
THREAD_VARIABLES = ("OPENCV_FFMPEG_THREADS", "ORGANIZER_DECODE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")


def child_env(threads: int = 0) -> dict[str, str]:
    """This process's environment with organizer importable and, with `threads`, native pools capped to it."""
    env = dict(os.environ)
    if threads:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [HOME, env.get("PYTHONPATH")]))
    return env


def start_child(first_message: tuple, debug: bool, threads: int = 0) -> tuple[subprocess.Popen, Connection]:
    """A `python -m organizer.engine.child` process and our end of its connection. Its output goes nowhere unless
    debugging (native libraries print: LiteRT's INFO line, FFmpeg). With `threads`, the thread pools of the
    native libraries (FFmpeg's decoder, OpenMP, BLAS) are capped before they start."""
    ours, theirs = socket.socketpair()
    env = child_env(threads)
    out = None if debug else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, "-m", "organizer.engine.child", str(theirs.fileno())],
                                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=env)
    finally:
        theirs.close()
    conn = Connection(ours.detach())
    conn.send(first_message)
    return proc, conn


def load_or_report(conn, load):
    """The loaded backend, or None after telling the parent in one sentence why it could not be loaded."""
    try:
        return load()
    except OrganizerError as exc:
        conn.send(("fatal", str(exc)))
    except Exception as exc:
        conn.send(("fatal", f"The feature model could not be loaded ({type(exc).__name__}: {exc})."))
    return None


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
