"""How organize starts its own Python child processes (workers, the model process, the completeness probe).

A child runs `python -m organizer...`; its environment makes this organizer importable even when it is not
installed (a checkout on PYTHONPATH), and can cap the thread pools of the native libraries before they start.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME = str(Path(__file__).resolve().parents[2])        # the folder that holds the organizer package
THREAD_VARIABLES = ("OPENCV_FFMPEG_THREADS", "ORGANIZER_DECODE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")


def child_env(threads: int = 0) -> dict[str, str]:
    """This process's environment with organizer importable and, with `threads`, native pools capped to it."""
    env = dict(os.environ)
    if threads:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [HOME, env.get("PYTHONPATH")]))
    return env
