"""A video's timeline (issue 25): the decoder's 16x16 grey image of the frame on screen every STEP seconds.

Kept with the analysis so that copies of one video (re-encoded, resized, cropped, mirrored, trimmed) are found by
comparing frames along time (grouping/timeline.py), not keyframes, which a copy chooses again at other moments.
It costs nothing to make: the images are the cheap signal the decoder already hands over for the edit (shots.py).
"""

from __future__ import annotations

import numpy as np

STEP = 0.25          # seconds between timeline images: a trimmed copy's frames sit within STEP / 2 of a step
                     # (0.5 s steps lost 9 pairs of copies on the tune libraries that 0.25 s found)
MAX_STEPS = 960      # 4 minutes at STEP; a longer video is stepped every duration / MAX_STEPS seconds


def make_timeline(signal, duration: float) -> tuple[np.ndarray | None, float]:
    """(rows, step): one flattened 16x16 grey image (uint8) per step, the signal frame nearest its middle; all
    zeros where no decoded frame lies within a step (the decoder seeked past it). (None, 0.0) without a signal."""
    if signal is None or len(signal.frames) == 0 or not signal.fps or signal.fps <= 0:
        return None, 0.0
    length = max(float(duration), (signal.frames[-1] + 1) / signal.fps)
    step = max(STEP, length / MAX_STEPS)
    n = max(1, int(np.floor(length / step + 1e-9)))
    times = signal.frames / signal.fps
    middles = (np.arange(n) + 0.5) * step
    after = np.clip(np.searchsorted(times, middles), 0, len(times) - 1)
    before = np.clip(after - 1, 0, len(times) - 1)
    nearest = np.where(np.abs(times[before] - middles) < np.abs(times[after] - middles), before, after)
    rows = signal.luma[nearest].reshape(n, -1).astype(np.uint8)
    rows[np.abs(times[nearest] - middles) > step] = 0
    return rows, float(step)
