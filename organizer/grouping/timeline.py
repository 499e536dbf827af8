"""Whether two timelines (analysis/timeline.py) show one video, re-encoded, resized, cropped, mirrored or trimmed.
Pure numpy: two timelines in, a verdict out.

The shorter timeline is slid along the longer one (it must lie inside it, as a trimmed copy does), as it is,
mirrored, and zoomed in on either side (a crop). At each placement the frames are compared as pictures: the centred
correlation of the 16x16 grey images, leaving out pixels that never change in either video (padding, a still
overlay). The few best placements are then compared as motion: in windows of two seconds, what changes in one must
change alike in the other. Motion is what tells apart two parts of one recording (one room, one camera, other
moments) and two videos that share only an intro (the intro moves alike, the rest does not); motion inside the
shots of library furniture is not compared (an intro cuts into every video it opens at the same moment), and the
pictures must agree where the shorter one shows its own keyframes.

The constants were chosen on the tune libraries of bench/make_library.py (the tune half of the shared clips, seeds
1, 3, 4, 5, 6, 7 with --furniture --reposts: 136 pairs of copies); docs/BENCHMARKS.md reports them on libraries
made from the other half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDE = 16
ZOOMS = (1.0, 1.06, 1.12, 1.18)   # centred zooms tried on either side (the tune copies were cropped to 85-92 %:
                                  # zooms of 1.09-1.18; 1.1 and 1.2 alone lost two crops)
STILL = 2.0       # a pixel whose grey level varies less than this over a video (std) is padding or an overlay
SLACK = 2         # steps the shorter timeline may stick out of the longer one at either end
INSIDE = 0.9      # share of the shorter timeline that must lie inside the longer one
PLACES = 5        # the best placements (by mean picture correlation) that are compared as motion
LOOKS = 0.8       # the 20 % quantile of the per-step picture correlation must reach this (copies on the tune
                  # libraries: >= 0.85, a copy that fades in over most of its 2.7 s: 0.72 at the 10 % quantile)
STILL_LOOKS = 0.92  # ... or this, where no window decides: with nothing moving the pictures are all there is, and a
                    # copy of a still scene is the same frames (0.93-0.9999 on the generated libraries) where another
                    # moment of the same room is not quite (two pieces of the office at one length, report-half seed
                    # 94, read: 0.87-0.91). 0.95 lost 2-4 copies of each kind of library; 0.92 none
WINDOW, STRIDE = 8, 4   # motion is compared in windows of 8 steps (2 s), every 4 steps, inside the runs of steps
SHORT = 4               # outside furniture; a shorter run of at least 4 steps (1 s) is one window. Windows laid from
                        # the first step, and skipped where they touched furniture, left the 2-3 s of a video's own
                        # after a long intro unjudged: with runs, recall on the tune libraries 0.934 -> 0.963 and
                        # no wrong pair (runs of 2-4 steps gave the same pairs; 6 found fewer copies, 8 fewer still)
MOVES = 1.0       # a window decides when both sides move at least this much (RMS grey levels; re-encoding noise
                  # at 16x16 is a third of it)
LONE = 3.0        # ... or when one side moves this much, whatever the other does: a person crossing one piece of a
                  # fixed-camera recording while the other stands still (7-16 against 0.1-1.0 in the wrong pairs of
                  # the first held-out libraries) is a disagreement, not silence. 1.5-5 gave the same pairs on the
                  # tune libraries (no copy lost) and on those; 8 let the wrong pairs back. It disagrees however the
                  # two correlate: the still side's faint flicker had correlated 0.63 with the crossing (4.5 against
                  # 0.8, two pieces of the office in report-half seed 80's clean twin, read since)
AGREE = 0.6       # ... and it agrees when the two motions correlate at least this much (copies: >= 0.74 on the
                  # tune libraries; two parts of one recording, or videos sharing only an intro: <= 0.57)
FAINT = 2.5       # ... but where neither side moves this much (RMS), a window that disagrees is left out: faint motion
                  # is much encoding noise. A crop of a Big Buck Bunny piece in tune library b3 moved 1.3-1.9 in its
                  # last second and correlated 0.47-0.56 there; with FAINT, copies recall in b3 0.89 -> 1.00 and in
                  # report-half seed 31 (read) 0.96 -> 1.00, no wrong pair on the 14 libraries. A faint window
                  # that agrees still decides
SHOT = 0.7        # a step's picture goes on into the next one (a shot of furniture goes on) at this correlation:
                  # colour bars, title and end cards and fades from black held at 0.7 on the tune libraries; a
                  # moving logo sting does not, and only a second of it around its keyframe counts as furniture
TIE = 0.1         # an intro runs to the last of its sharpest changes (this close to the sharpest) before the video's own
                  # picture, an end card from the first after it: an animated sting changes inside as sharply as at
                  # its cut (0.17 and 0.20 inside two uploaders' stings of one kind, 0.21 and 0.25 at their cuts, in
                  # bench/make_library.py's report-half seed 83, read since), and the cut, at one moment in both,
                  # read as motion that agrees


@dataclass(frozen=True)
class Timeline:
    """One video's timeline (analysis/timeline.py) and what its keyframes say about it."""

    rows: np.ndarray                     # uint8, a flattened 16x16 grey image per step
    step: float                          # seconds between steps
    own: tuple[float, ...] = ()          # moments (s) of its own keyframes: pictures must agree there
    furniture: tuple[float, ...] = ()    # moments of its furniture keyframes: their shots say nothing of motion


@dataclass(frozen=True)
class Match:
    """The best placement of the shorter timeline in the longer one."""

    offset: float          # seconds into the longer timeline where the shorter one starts
    mirrored: bool
    zoom: float            # > 0: the shorter one zoomed in (the longer is a crop); < 0: the longer one zoomed in
    looks: float           # the 20 % quantile of the per-step picture correlation
    windows: int           # motion windows that decided (outside furniture shots)
    agreeing: int          # ... and agreed
    marked: float = 1.0    # the lowest picture correlation at the shorter one's own keyframe moments

    @property
    def same(self) -> bool:
        return self.looks >= (LOOKS if self.windows else STILL_LOOKS) and self.marked >= LOOKS and \
            self.agreeing == self.windows


def _zoom_matrix(z: float, side: int = SIDE) -> np.ndarray:
    """M such that M @ image @ M.T zooms a side x side image in by z about its centre (bilinear)."""
    src = (side / 2 + (np.arange(side) + 0.5 - side / 2) / z) - 0.5
    low = np.clip(np.floor(src).astype(int), 0, side - 1)
    high = np.clip(low + 1, 0, side - 1)
    frac = src - np.floor(src)
    m = np.zeros((side, side))
    m[np.arange(side), low] += 1 - frac
    m[np.arange(side), high] += frac
    return m.astype(np.float32)


def _on_step(rows: np.ndarray, step: float, to: float) -> list[np.ndarray]:
    """The rows of a timeline stepped every `step` seconds, picked every `to` (>= step) seconds: at each phase
    within `to` (up to 5), as the coarser timeline's frames may sit anywhere between two of the finer's."""
    if abs(to - step) <= 0.01 * step:
        return [rows]
    n = max(1, int(len(rows) * step / to))
    ratio = to / step
    shifts = np.unique(np.round(np.linspace(-ratio / 2, ratio / 2, 5)).astype(int)) if ratio >= 1.5 else [0]
    return [rows[np.clip(np.round((np.arange(n) + 0.5) * ratio - 0.5).astype(int) + shift, 0, len(rows) - 1)]
            for shift in shifts]


def _variants(a: np.ndarray, b: np.ndarray):
    """(zoom, mirrored, a', b'): the shorter timeline `a` as it is, mirrored and zoomed; or the longer one zoomed."""
    for z in ZOOMS:
        m = _zoom_matrix(z)
        za = a if z == 1 else m @ a @ m.T
        for mirrored in (False, True):
            yield z, mirrored, (za[:, :, ::-1] if mirrored else za), b
            if z != 1:
                yield -z, mirrored, (a[:, :, ::-1] if mirrored else a), m @ b @ m.T


def _units(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = x[:, mask]
    x = x - x.mean(1, keepdims=True)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-3, None)


def _placements(ua: np.ndarray, ub: np.ndarray, va: np.ndarray, vb: np.ndarray):
    """(offset in steps, mean correlation, per-step correlations, a's steps, b's steps) of every placement of a in
    b that lies inside it."""
    na, nb = len(ua), len(ub)
    s = ua @ ub.T
    offsets = np.arange(-SLACK, nb - na + SLACK + 1)
    i = np.arange(na)[None, :]
    j = i + offsets[:, None]
    inside = (j >= 0) & (j < nb)
    jc = np.clip(j, 0, nb - 1)
    ok = inside & va[None, :] & vb[jc]
    vals = s[np.broadcast_to(i, jc.shape), jc]
    count = ok.sum(1)
    for k in np.flatnonzero((inside.sum(1) >= INSIDE * na) & (count >= 4)):
        steps = np.flatnonzero(ok[k])
        yield int(offsets[k]), float(vals[k, steps].mean()), vals[k, steps], steps, steps + offsets[k]


def _windows(skip: np.ndarray):
    """(start, end) of the motion windows: WINDOW steps every STRIDE inside each run of steps outside furniture,
    the last one ending where the run ends; a run shorter than WINDOW (at least SHORT) is one window."""
    edges = np.flatnonzero(np.diff(np.r_[True, skip, True].astype(np.int8)))
    for first, last in zip(edges[::2], edges[1::2]):
        if last - first < SHORT:
            continue
        starts = list(range(first, max(last - WINDOW, first) + 1, STRIDE))
        if starts[-1] + WINDOW < last:
            starts.append(last - WINDOW)
        for start in starts:
            yield start, min(start + WINDOW, last)


def _motion(xa: np.ndarray, xb: np.ndarray, skip: np.ndarray) -> tuple[int, int]:
    """(windows that decided, windows that agreed) between two aligned runs of images, in the windows laid
    between the `skip` steps (furniture in either); a window where neither moves (or only a little: both under
    LONE, one under MOVES) is left out, and so is one of faint motion (both under FAINT) that disagrees. One side
    moving while the other stands still decides, and disagrees."""
    decided = agreed = 0
    for start, end in _windows(skip):
        a, b = xa[start:end], xb[start:end]
        a, b = a - a.mean(0), b - b.mean(0)
        moves = sorted((np.sqrt((a ** 2).mean()), np.sqrt((b ** 2).mean())))
        if moves[0] < MOVES and moves[1] < LONE:
            continue
        if moves[0] < MOVES:          # one side stands still while the other moves: no copy, however they correlate
            decided += 1
            continue
        agrees = (a * b).sum() / max(np.sqrt((a ** 2).sum() * (b ** 2).sum()), 1e-6) >= AGREE
        if not agrees and moves[1] < FAINT:
            continue
        decided += 1
        agreed += int(agrees)
    return decided, agreed


def furniture_steps(rows: np.ndarray, step: float, moments: tuple[float, ...],
                    own: tuple[float, ...] = (), tie: float = TIE) -> np.ndarray:
    """The steps of the shots that hold these moments: from each, on while one step's picture goes on into the next
    (correlation >= SHOT) or is blank (a fade through black). An intro's shot ends at its cut into the video.
    With the moments of the video's `own` keyframes, a furniture moment before the first of them (an intro) makes
    every step up to the sharpest change between the two furniture (the cut, or the black, into the video), and one
    after the last of them (an end card) every step from the sharpest change between them on (the last of the
    changes within TIE of the sharpest before the video's own picture, the first after it): an animated sting
    changes too fast for one shot (only about a second of it around its keyframe was counted), and its motion is
    alike in every video it opens (0.2-0.9 from step to step in make_library's stings, against -0.1 at the cut).
    """
    x = rows.astype(np.float32)
    flat = x.std(1) <= 1.0
    u = x - x.mean(1, keepdims=True)
    u /= np.clip(np.linalg.norm(u, axis=1, keepdims=True), 1e-3, None)
    going = np.r_[(u[1:] * u[:-1]).sum(1), -1.0]         # how each step's picture goes on into the next
    goes_on = (going >= SHOT) | flat | np.r_[flat[1:], False]
    out = np.zeros(len(rows), bool)

    def steps(times: tuple[float, ...]) -> list[int]:
        return [min(max(int(t / step), 0), len(rows) - 1) for t in times]

    at, mine = steps(moments), steps(own)
    for first in at:
        last = first
        while first > 0 and goes_on[first - 1]:
            first -= 1
        while last < len(rows) - 1 and goes_on[last]:
            last += 1
        out[first:last + 1] = True
    if at and mine and min(at) < min(mine):
        span = going[min(at):min(mine)]
        out[:min(at) + int(np.flatnonzero(span <= span.min() + tie)[-1]) + 1] = True
    if at and mine and max(at) > max(mine):
        span = going[max(mine):max(at)]
        out[max(mine) + int(np.flatnonzero(span <= span.min() + tie)[0]) + 1:] = True
    return out


def compare(a: Timeline, b: Timeline) -> Match | None:
    """The best placement of the shorter of two timelines in the longer; None when no placement has enough clear
    steps to judge (a blank or very short video). The pictures must agree at the shorter one's own moments too (a
    copy of a video that is nearly all intro agrees with another video with that intro almost everywhere, but not
    at its own picture); motion in the shots of either's furniture is not compared (an intro cuts into every
    video it opens at the same moment)."""
    step = max(a.step, b.step)
    best = None
    for ra in _on_step(a.rows, a.step, step):
        for rb in _on_step(b.rows, b.step, step):
            one, other = Timeline(ra, step, a.own, a.furniture), Timeline(rb, step, b.own, b.furniture)
            match = _compare(one, other) if len(ra) <= len(rb) else _compare(other, one)
            if match is not None and (best is None or (match.same, match.looks) > (best.same, best.looks)):
                best = match
    return best


def _marked(vals: np.ndarray, steps: np.ndarray, skip: np.ndarray, marks: tuple[float, ...], step: float) -> float:
    """The lowest picture correlation at the marked moments (1.0 when none falls on a clear step of the placement):
    at each, the best of its step and the steps either side of it outside furniture. A copy's sampling grid sits
    up to half a step from the original's, so at a keyframe just after a cut one of them may still show the frame
    before it (an intro's last: -0.22 for a trimmed copy in tune library b3 of bench/make_library.py); the step
    after agrees. Steps of furniture never stand in: there a copy of an intro agrees with every video it opens."""
    where = {int(s): i for i, s in enumerate(steps)}
    lowest = 1.0
    for k in (int(t / step) for t in marks):
        if k not in where:
            continue
        near = [where[j] for j in (k - 1, k, k + 1) if j in where and not skip[where[j]]]
        lowest = min(lowest, float(vals[near].max()) if near else float(vals[where[k]]))
    return lowest


def _compare(a: Timeline, b: Timeline) -> Match | None:
    """compare, for two timelines on one step, the shorter first."""
    step = a.step
    fa = a.rows.reshape(-1, SIDE, SIDE).astype(np.float32)
    fb = b.rows.reshape(-1, SIDE, SIDE).astype(np.float32)
    va, vb = fa.reshape(len(fa), -1).std(1) > 1.0, fb.reshape(len(fb), -1).std(1) > 1.0   # flat: missing or black
    sa, sb = furniture_steps(a.rows, step, a.furniture, a.own), furniture_steps(b.rows, step, b.furniture, b.own)
    places, kept = [], []
    for zoom, mirrored, xa, xb in _variants(fa, fb):
        xa, xb = xa.reshape(len(xa), -1), xb.reshape(len(xb), -1)
        mask = (xa[va].std(0) > STILL) & (xb[vb].std(0) > STILL) if va.any() and vb.any() else None
        if mask is None or mask.sum() < SIDE:
            mask = np.ones(SIDE * SIDE, bool)
        kept.append((zoom, mirrored, xa[:, mask], xb[:, mask]))
        places += [(mean, len(kept) - 1, offset, vals, ia, ib)
                   for offset, mean, vals, ia, ib in _placements(_units(xa, mask), _units(xb, mask), va, vb)]
    best = None
    for mean, v, offset, vals, ia, ib in sorted(places, key=lambda p: -p[0])[:PLACES]:
        zoom, mirrored, xa, xb = kept[v]
        skip = sa[ia] | sb[ib]
        decided, agreed = _motion(xa[ia], xb[ib], skip)
        match = Match(offset * step, mirrored, zoom, float(np.quantile(vals, 0.2)), decided, agreed,
                      _marked(vals, ia, skip, a.own, step))
        if best is None or (match.same, match.looks) > (best.same, best.looks):
            best = match
    return best


def same(a: Timeline, b: Timeline) -> bool:
    """Whether two timelines show one video (the shorter one inside the longer)."""
    match = compare(a, b)
    return match is not None and match.same
