"""Parts of a video that the quality gates would leave without a keyframe (analysis/keyframes.py).

The gates drop frames that are no good picture: flat colour, a blend inside a dissolve. When every frame of a
video fails, its best is kept anyway. But a video that opens with an uploader's intro and closes with an end card
has good frames there, so a part of its own that failed the gates whole left it showing only its furniture: a
clip of flat colour slides, a piece of an old film whose motion the edit rules read as a long dissolve. Such a
part keeps its best frame.
"""

from __future__ import annotations

import numpy as np

LONG_TRANSITION = 0.9   # seconds between the first and last of a run of samples all read as a transition: longer
                        # than any the edit rules find (0.7 s windows grown by a third), so a piece of the video
                        # whose motion the rules mistook for a dissolve (an old film's) keeps its best frame


def own_parts(keep: np.ndarray, usable: np.ndarray, score: np.ndarray, excluded: list[str], shots: list[int],
              times: list[float], pieces: list[int] | None = None) -> list[int]:
    """Frames to keep so that no part of the video is left without one: the best frame of a shot of two samples or more
    whose every frame failed the gates on its looks (a shot of flat colour), or of the clear shots of one piece
    (between two cuts) taken together, two samples or more (a flat shot that a transition inside it, real or
    not, split into shots of one sample each: issue 26), and of a run of samples read as a
    transition for LONG_TRANSITION s or more that fills a piece of the video between two cuts. Beside an intro
    and an end card that pass the gates, such a part was the video's whole own picture, and the video showed
    only its furniture (issue 25); alone in the video it was kept anyway (the best of bad frames), and a video
    whose every frame failed is left to that rule (the caller's). Only `usable` frames (never a dark or a
    bright one: a shot of black is no picture of the video), the one of highest `score`."""
    parts = [[i for i, s in enumerate(shots) if s == shot] for shot in sorted({s for s in shots if s >= 0})]
    if pieces is not None:        # a piece's clear shots together: a flat picture split into one-sample shots
        for piece in sorted(set(pieces)):
            inside = [i for i, s in enumerate(shots) if s >= 0 and pieces[i] == piece]
            if len({shots[i] for i in inside}) >= 2:
                parts.append(inside)
    run: list[int] = []
    for i in range(len(shots) + 1):
        if i < len(shots) and shots[i] < 0 and excluded[i] == "transition":
            run.append(i)
            continue
        if len(run) >= 2 and times[run[-1]] - times[run[0]] >= LONG_TRANSITION and not _shown(run, shots, pieces):
            parts.append(run)
        run = []
    out = []
    for part in parts:
        if len(part) < 2 or keep[part].any():      # one sample: a frame coming out of black, not a part
            continue
        part = [i for i in part if usable[i]]
        if part:
            out.append(part[int(np.argmax(score[part]))])
    return out


def _shown(run: list[int], shots: list[int], pieces: list[int] | None) -> bool:
    """Whether a clear shot shares a piece (the stretch between two cuts) with this run of samples: a real
    dissolve sits between the shots it joins, with no cut; a piece read as one long transition is the whole of a
    part of the video. Without pieces, always (the run is left alone)."""
    if pieces is None:
        return True
    inside = {pieces[k] for k in run}
    return any(shot >= 0 and piece in inside for shot, piece in zip(shots, pieces))
