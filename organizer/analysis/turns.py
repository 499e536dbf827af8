"""Whether a very short clear stretch between two transitions is a scene of its own or a moment inside one dissolve
(issue 26, round four): shots.missing_samples samples it only when the picture's change turns there."""

from __future__ import annotations

import numpy as np

# A shorter clear stretch (1-3 frames at 30 frames/s) between two transitions is a scene there when the picture's
# change turns at it: inside one dissolve A -> B the picture changes towards B all along, so the change into the
# stretch and the change out of it (over 0.2 s, 16x16 signal) point one way; a scene between two transitions is
# approached from one picture and left towards another. Measured on make_edits_b.py's tune sets (tune-half seeds 7,
# 13 and 29; the 15 such stretches whose neighbours are both transitions or fades): the 11 inside real scenes (0.4 s
# scenes whose transitions ate all but their middle) read cosine -0.97 to 0.16, and one more 0.36; the 4 inside
# dissolves 0.30 (the first frame of one), 0.34 (two moving pictures), 0.66 and 0.82.
TURN = 0.25


def turns(y: np.ndarray, clear: np.ndarray, shots: np.ndarray, contiguous: np.ndarray, fps: float,
          seconds: float) -> dict[int, float]:
    """Per shot shorter than `seconds` whose frames on both sides are not clear: the cosine between the change over
    0.2 s into its first frame and the change over 0.2 s out of its last one (see TURN)."""
    n, k = len(y), max(1, round(0.2 * fps))
    out = {}
    ids, first = np.unique(shots, return_index=True)
    _, last = np.unique(shots[::-1], return_index=True)
    for shot, a, b in zip(ids, first, n - 1 - last):
        if shot < 0 or b - a + 1 >= seconds * fps or a - k < 0 or b + k >= n:
            continue
        if not contiguous[a - k + 1:b + k + 1].all() or clear[a - 1] or clear[b + 1]:
            continue
        into, out_of = y[a] - y[a - k], y[b + k] - y[b]
        norm = float(np.sqrt((into @ into) * (out_of @ out_of)))
        out[int(shot)] = float(into @ out_of) / norm if norm > 1e-12 else 1.0
    return out
