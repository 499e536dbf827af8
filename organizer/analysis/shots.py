"""How a video is edited, from a cheap signal of every decoded frame: shots, cuts, and what is not a picture.

The decoder hands over a tiny grey image (16x16) of every frame it decodes (`Signal`; by default the decoder skips
frames no other frame refers to, so the signal has gaps of a frame or two, which count as following on). From it,
`detect` finds:
- cuts: a frame-to-frame change far above the change around it (the adaptive test PySceneDetect uses);
- blank frames: near-uniform ones (black leaders, the middle of a fade, solid flashes);
- flashes: a short jump in brightness that comes back;
- gradual transitions: dissolves, fades and wipes, as frames explained by the frames a little before and after them
  (a blend of the two, or each pixel taken from one of them) while those two differ, and the fades into and out
  of blank frames.
Frames in none of these are clear; runs of clear frames between cuts and transitions are shots. No keyframe is
ever taken from a frame that is not clear. Everything here is pixel arithmetic on 16x16 images: well under a
millisecond per frame, so it runs on every frame the decoder produces anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from organizer.analysis.turns import TURN, turns

SIDE = 16
BLEND_ERROR = 0.20      # residual (relative to the change between the two ends) under which a frame is their blend
WIPE_CHANGED = 0.25
# A "transition" whose two sides differ less than this (16x16 grey, 0-1) joined a picture to itself: on the tune sets
# (make_edits.py and make_edits_b.py over the tune half of the clips) the real transitions between two pictures
# start at 0.044 (below 0.011 only the two sides of a flash inside one scene), while drifting fog or light inside one
# shot gives 0.00-0.07.
SAME_SIDES = 0.04     # a wipe: at least this share of the 16x16 pixels changes between its two ends
# A clear stretch shorter than 0.25 s is sampled only when it is steady (every frame within STEADY of the one
# before): on the tune sets, a 0.4 s scene between two transitions keeps 0.12-0.2 s of clear frames changing by
# 0.00-0.01, while the short "clear" pieces inside wipes change by 0.06-0.16 a frame.
SHORT_STRETCH = 0.12
STEADY = 0.03
# A jump of WEAK_CUT to 0.08 (too small for a cut on its own) is a cut when it steps between two still pictures: its
# change across is at least STEP_CONTRAST times the change inside 0.2 s on either side. Measured on the tune sets
# (make_edits_b.py seeds 7, 5 and 61): 63 jumps of 0.03-0.08 at 3x the change around them, of which
# the 4 real cuts (different signers in one room) step at 4.2, 14.8, 17.8 and 42.9 and the 59 others (motion, the
# edges of transitions, a looped source turning back) at 8.2 at most. The same test finds dissolves and wipes
# between such pictures (_quiet_steps): over the same sets, of the 199 shots with a step of 0.025 or more across a gap
# of 0.2-1.4 s, the 10 real transitions step at 14.1-44.6 and the rest at 12.9 at most (11.9 below 0.08). Per
# frame, the real ones change 1.9-29 times faster across than on their sides; a steady slow pan changes at one rate
# (the shared clip moviepy__doc_example2.mp4, 12 signal frames a second: 1.0, while its step reads 13).
WEAK_CUT = 0.03
STEP_CONTRAST = 13.0
STEP_RATE = 1.5
# A shot at least this long is described by its pictures, not taken as one (analysis/keyframes.py): chosen for fixed
# cameras where people come and go (the shared 139 s office clip, issue 24), and longer than any scene appearance of
# the generated edits (make_edits.py: at most 7 s; make_edits_b.py: 6 s), where a shot is one picture and stays so.
# Inside such a stretch of clear frames the steps between still pictures are what happens in the room (a hand puts
# a bottle down), not an edit: _quiet_steps leaves them to the keyframe step, which sees every frame of it.
LONG_SHOT = 10.0
CLEAR, TRANSITION, FLASH, BLANK, FADE = 0, 1, 2, 3, 4
LABELS = ("clear", "transition", "flash", "blank", "fade")
_PLANAR_8BIT = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p",
                "yuv440p", "yuvj440p", "nv12", "nv21", "gray", "yuva420p")


def tiny_luma(frame) -> np.ndarray:
    """A SIDE x SIDE grey image of a PyAV frame, from its luma plane (no colour conversion)."""
    if frame.format.name in _PLANAR_8BIT:
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
        step = max(1, min(plane.height, plane.width) // (4 * SIDE))
        return cv2.resize(y[::step, ::step], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return frame.reformat(width=SIDE, height=SIDE, format="gray").to_ndarray()


class SignalRecorder:
    """Collects the tiny image of each decoded frame (frame number, image)."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.images: list[np.ndarray] = []

    def add(self, number: int, image: np.ndarray) -> None:
        if self.frames and number <= self.frames[-1]:
            return                                   # a seek went back over frames already seen
        self.frames.append(number)
        self.images.append(image)

    def signal(self, fps: float) -> "Signal | None":
        if not self.frames:
            return None
        return Signal(np.array(self.frames, np.int64), np.stack(self.images).astype(np.uint8), float(fps))


MAX_STEP = 4       # signal frames at most this far apart follow each other (the decoder skipped the ones between)


@dataclass(frozen=True)
class Signal:
    frames: np.ndarray      # (n,) frame numbers, increasing (gaps where the decoder skipped frames or seeked)
    luma: np.ndarray        # (n, SIDE, SIDE) uint8
    fps: float


@dataclass(frozen=True)
class Edit:
    """Per signal frame: its label (CLEAR ... FADE), its shot (-1 for frames that are not clear) and its piece (the
    stretch between two cuts or gaps in the signal; None when unknown)."""

    frames: np.ndarray
    labels: np.ndarray
    shots: np.ndarray
    cuts: int
    pieces: np.ndarray | None = None
    change: np.ndarray | None = None     # per signal frame, its mean absolute 16x16 difference from the one before
    turns: dict[int, float] | None = None  # per short shot between two transitions: how its change turns

    def steady(self, shot: int) -> bool:
        """Whether the picture holds still along a shot (after its first frame): see missing_samples."""
        if self.change is None:
            return False
        idx = np.flatnonzero(self.shots == shot)
        return len(idx) < 2 or float(self.change[idx[1:]].max()) <= STEADY

    def _index(self, number: int) -> int:
        """The nearest signal frame at or before a frame number (-1: none)."""
        return int(np.searchsorted(self.frames, number, side="right")) - 1

    def at(self, number: int) -> tuple[int, int]:
        """(label, shot) of a frame number: the nearest signal frame at or before it."""
        i = self._index(number)
        if i < 0:
            return CLEAR, -1
        return int(self.labels[i]), int(self.shots[i])

    def piece(self, number: int) -> int:
        """The piece of a frame number (as at()); -1 when unknown."""
        i = self._index(number)
        return int(self.pieces[i]) if self.pieces is not None and i >= 0 else -1

    def to_transition(self, numbers, fps: float) -> np.ndarray:
        """Per frame number, the seconds to the nearest frame read as a transition or a fade (inf: none)."""
        at = self.frames[(self.labels == TRANSITION) | (self.labels == FADE)]
        numbers = np.asarray(numbers, np.int64)
        if not len(at) or fps <= 0:
            return np.full(len(numbers), np.inf)
        i = np.clip(np.searchsorted(at, numbers), 1, len(at)) - 1      # the one at or before, and the one after
        j = np.minimum(i + 1, len(at) - 1)
        return np.minimum(np.abs(numbers - at[i]), np.abs(at[j] - numbers)) / fps

    def stretches(self) -> list[tuple[int, int, int]]:
        """(first frame, last frame, shot) of each run of clear frames."""
        out = []
        for shot in np.unique(self.shots[self.shots >= 0]):
            idx = np.flatnonzero(self.shots == shot)
            out.append((int(self.frames[idx[0]]), int(self.frames[idx[-1]]), int(shot)))
        return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where mask is true."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).mean(-1)


def _explained(y: np.ndarray, w: int, max_error: float) -> tuple[np.ndarray, np.ndarray]:
    """For frames t (w <= t < n-w): whether frame t is explained by frames t-w and t+w, as a blend of the two
    (dissolve, fade) or as a patchwork of their pixels (wipe), with both contributing; and how different those two
    frames are (mean absolute difference)."""
    a, c, b = y[:-2 * w], y[w:-w], y[2 * w:]
    span = a - b
    span_mad = np.abs(span).mean(1)
    norm2 = np.maximum((span * span).sum(1), 1e-9)
    alpha = np.clip(((c - b) * span).sum(1) / norm2, 0, 1)
    resid = np.linalg.norm(c - (alpha[:, None] * a + (1 - alpha[:, None]) * b), axis=1) / np.sqrt(norm2)
    blend = (alpha > 0.2) & (alpha < 0.8) & (resid < max_error)
    changed = np.abs(span) > 0.12
    da, db = np.abs(c - a), np.abs(c - b)
    frac_a = ((da < db) & changed).sum(1) / np.maximum(changed.sum(1), 1)
    patch_err = (np.minimum(da, db) * changed).sum(1) / np.maximum((np.abs(span) * changed).sum(1), 1e-6)
    wipe = (frac_a > 0.15) & (frac_a < 0.85) & (patch_err < max_error) & (changed.mean(1) > WIPE_CHANGED)
    out = np.zeros(len(y), bool)
    out[w:-w] = blend | wipe
    spans = np.zeros(len(y), np.float32)
    spans[w:-w] = span_mad
    return out, spans


def _spread(y: np.ndarray, w: int) -> np.ndarray:
    """For each start s: the largest difference between two of the frames y[s:s+w] (how much a still picture
    moves over w frames); 0 where the window runs past the end."""
    n = len(y)
    out = np.zeros(n, np.float32)
    for k in range(1, w):
        dk = np.zeros(n, np.float32)
        dk[:n - k] = _mad(y[k:], y[:n - k])
        for i in range(w - k):                          # the pair (s+i, s+i+k) lies inside the window at s
            out[:n - i] = np.maximum(out[:n - i], dk[i:])
    out[max(0, n - w + 1):] = 0
    return out


def _still_window(fps: float) -> int:
    """The 0.2 s (in signal frames, at least 2) over which a still picture is seen to hold still."""
    return max(2, round(0.2 * fps))


def _step(y: np.ndarray, spread: np.ndarray, contiguous: np.ndarray, t: int, w: int) -> float:
    """How cleanly the signal steps from one still picture to another at frame t: the smallest difference across
    t (the two frames on each side) over the largest difference inside the w frames on either side (`spread`, from
    _spread(y, w)). A cut between two still pictures is a step (far above 1); motion changes the picture on both
    sides as much as across."""
    if t - w < 0 or t + w > len(y) or not contiguous[t - w + 1:t + w].all():
        return 0.0
    cross = min(float(_mad(a, b)) for a in y[t - 2:t] for b in y[t:t + 2])
    return cross / max(float(spread[t - w]), float(spread[t]), 1e-3)


def _quiet_steps(y: np.ndarray, spread: np.ndarray, clear: np.ndarray, piece: np.ndarray, fps: float,
                 maximum: float) -> np.ndarray:
    """Gradual transitions between two look-alike still pictures (a dissolve or a wipe between two people filmed
    alike in one room), too faint for _gradual: inside clear frames of one piece, still for 0.2 s on each side
    of a stretch of 0.2-1.4 s, and the two sides differ by WEAK_CUT to `maximum`, STEP_CONTRAST times more than
    either side moves, and changing at least STEP_RATE times faster per frame than the sides (a steady pan or
    a slow fade changes at one rate: across a gap as much per frame as inside 0.2 s). The stretch between them
    is the transition; the strongest step wins where they overlap.
    Not inside LONG_SHOT seconds of clear frames: there the room changes, and the keyframe step reads it."""
    n = len(y)
    w = _still_window(fps)
    stretch = np.zeros(n, np.int64)                       # per frame, its run of clear frames in one piece
    edges = [0, *(np.flatnonzero((np.diff(clear.astype(np.int8)) != 0) | (np.diff(piece) != 0)) + 1), n]
    for a, b in zip(edges[:-1], edges[1:]):
        stretch[a:b] = b - a
    found = []
    for seconds in (0.1, 0.2, 0.35, 0.5, 0.7):           # half the transition's length
        g = max(1, round(seconds * fps))
        if n < 2 * (g + w) + 1:
            continue
        t = np.arange(g + w, n - g - w)
        cross = _mad(y[t - g - 1], y[t + g])
        within = np.maximum(np.maximum(spread[t - g - w], spread[t + g]), 1e-3)
        faster = cross * (w - 1) >= STEP_RATE * (2 * g + 1) * within       # per frame, against the sides' motion
        for i in np.flatnonzero((cross >= WEAK_CUT) & (cross < maximum) & (cross >= STEP_CONTRAST * within) & faster):
            a, b = int(t[i]) - g - w, int(t[i]) + g + w
            if clear[a:b].all() and piece[a] == piece[b - 1] and stretch[a] < LONG_SHOT * fps:
                found.append((float(cross[i] / within[i]), int(t[i]) - g, int(t[i]) + g))
    out = np.zeros(n, bool)
    for _, a, b in sorted(found, reverse=True):
        if not out[a - w:b + w].any():
            out[a:b] = True
    return out


def _cuts(y: np.ndarray, d: np.ndarray, spread: np.ndarray, contiguous: np.ndarray, fps: float, ratio: float,
          minimum: float) -> np.ndarray:
    """A change far above the changes around it (PySceneDetect's adaptive rule), and above `minimum`; or, from
    WEAK_CUT up, one that steps between two still pictures (_step): two people filmed alike in one room."""
    n, w = len(d), _still_window(fps)
    k = max(2, round(0.3 * fps))
    cut = np.zeros(n, bool)
    for t in np.flatnonzero(contiguous & (d >= min(minimum, WEAK_CUT))):
        around = np.concatenate([d[max(1, t - k):t], d[t + 1:t + 1 + k]])
        cut[t] = d[t] >= ratio * max(float(around.mean()) if len(around) else 0.0, 0.01) and (
            d[t] >= minimum or _step(y, spread, contiguous, t, w) >= STEP_CONTRAST)
    return cut


def _gradual(y: np.ndarray, piece: np.ndarray, fps: float) -> np.ndarray:
    """Frames inside dissolves, fades and wipes. A frame counts when, at some scale, it is explained by the frames
    around it while those differ far more than the picture changes just before and just after (motion inside a
    shot changes the picture at a steady rate; a transition changes it far faster than the shots it joins)."""
    n = len(y)
    seeds = np.zeros(n, bool)
    for seconds in (0.08, 0.16, 0.32, 0.5, 0.7):
        w = max(1, round(seconds * fps))
        if n <= 2 * w:
            continue
        hit, span = _explained(y, w, BLEND_ERROR)
        for t in np.flatnonzero(hit & (span >= 0.06)):
            a, b = t - w, t + w
            if piece[a] != piece[b]:
                continue                           # the window crosses a cut or a gap
            sides = [_mad(y[a], y[a - 2 * w]) if a - 2 * w >= 0 and piece[a - 2 * w] == piece[a] else None,
                     _mad(y[b], y[b + 2 * w]) if b + 2 * w < n and piece[b + 2 * w] == piece[b] else None]
            known = [float(x) for x in sides if x is not None]
            if span[t] >= 3.0 * max(min(known) if known else 0.0, 0.01):
                seeds[t] = True
    marked = seeds.copy()
    gap = max(1, round(0.2 * fps))
    idx = np.flatnonzero(seeds)
    for i, j in zip(idx[:-1], idx[1:]):
        if 1 < j - i <= gap and piece[i] == piece[j]:
            marked[i:j] = True
    for s, e in _runs(marked):        # the tests see 20-80 % blends: the first and last fifth lie outside them
        grow = max(round(0.08 * fps), (e - s) // 3)
        marked[max(0, s - grow):min(n, e + grow)] = True
    return marked


def _fading_ends(mean: np.ndarray, fps: float) -> np.ndarray:
    """A fade-in at the start or a fade-out at the end that never reaches black: the brightness climbs steadily
    from the first frame, or falls steadily to the last, by at least a fifth, over at least 0.2 s."""
    n = len(mean)
    out = np.zeros(n, bool)
    step = 0.1 / max(fps, 1.0)                 # at least 10 % of full brightness per second
    for order in (np.arange(n), np.arange(n)[::-1]):     # from the start: darker first; from the end: likewise
        i = 0
        while i + 1 < n and mean[order[i + 1]] - mean[order[i]] > step:
            i += 1
        if i + 1 >= 0.2 * fps and mean[order[i]] > 0 and mean[order[0]] <= 0.8 * mean[order[i]]:
            out[order[:i + 1]] = True
    return out


def _same_sides(y: np.ndarray, labels: np.ndarray, cut: np.ndarray, contiguous: np.ndarray, before: int,
                after: int) -> bool:
    """A stretch taken for a transition that joins a picture to itself (the frames on its two sides alike, no cut
    and no gap inside): motion or light inside one shot (fog drifting over a pan), not an edit. The shot goes on."""
    if before < 0 or not np.all(np.isin(labels[before + 1:after], (TRANSITION, FLASH))):
        return False
    if cut[before + 1:after + 1].any() or not contiguous[before + 1:after + 1].all():
        return False
    return float(_mad(y[before], y[after])) <= SAME_SIDES


def detect(signal: Signal | None, cut_ratio: float = 3.0, min_cut: float = 0.08) -> Edit | None:
    """The edit of a video from its signal (None without one)."""
    if signal is None or len(signal.frames) == 0:
        return None
    y = signal.luma.reshape(len(signal.frames), -1).astype(np.float32) / 255
    n = len(y)
    gaps = np.diff(signal.frames)
    contiguous = np.concatenate([[False], gaps <= MAX_STEP])   # frame t follows t-1 (or skipped frames only)
    step = float(np.mean(gaps[gaps <= MAX_STEP])) if contiguous.any() else 1.0
    fps = (signal.fps if signal.fps > 0 else 25.0) / step   # signal frames per second
    d = np.zeros(n, np.float32)
    d[1:] = _mad(y[1:], y[:-1])
    d[~contiguous] = 0
    spread = _spread(y, _still_window(fps))             # how much the picture moves within 0.2 s, per start
    cut = _cuts(y, d, spread, contiguous, fps, cut_ratio, min_cut)
    piece = np.cumsum(cut | ~contiguous)                  # pieces of the signal with no cut and no gap
    labels = np.zeros(n, np.int8)
    mean, std = y.mean(1), y.std(1)
    labels[std < 0.012] = BLANK
    k = max(2, round(0.5 * fps))                          # flashes: far brighter than around, for <= 0.5 s
    padded = np.pad(mean, k, mode="edge")
    around = np.array([np.median(np.concatenate([padded[i:i + k], padded[i + k + 1:i + 2 * k + 1]]))
                       for i in range(n)])
    for s, e in _runs(mean - around > 0.18):
        if e - s <= k:
            labels[s:e][labels[s:e] == CLEAR] = FLASH
    fade = np.zeros(n, bool)                              # into and out of blank frames: contrast keeps growing
    limit = round(1.5 * fps)
    for s, e in _runs(labels == BLANK):
        for first, step in ((s - 1, -1), (e, 1)):
            before, i = std[first - step], first
            while 0 <= i < n and abs(i - first) < limit and std[i] > before + 0.002:
                fade[i], before, i = True, std[i], i + step
    fade |= _fading_ends(mean, fps)
    labels[(labels == CLEAR) & fade] = FADE
    labels[(labels == CLEAR) & _gradual(y, piece, fps)] = TRANSITION
    quiet = _quiet_steps(y, spread, labels == CLEAR, piece, fps, min_cut)
    labels[quiet] = TRANSITION
    shots = np.full(n, -1, np.int64)
    shot, last_clear = -1, -1
    for t in range(n):
        if labels[t] != CLEAR:
            continue
        if shot < 0 or cut[t] or not contiguous[t] or (shots[t - 1] < 0 and (quiet[t - 1] or not _same_sides(
                y, labels, cut, contiguous, last_clear, t))):
            shot += 1
        shots[t] = shot
        last_clear = t
    return Edit(signal.frames, labels, shots, int(cut.sum()), piece, d, turns(y, labels == CLEAR, shots, contiguous,
                                                                              fps, SHORT_STRETCH))


def missing_samples(edit: Edit | None, sampled: list[int], budget: int, min_seconds: float = 0.25,
                    fps: float = 25.0, short_seconds: float = SHORT_STRETCH) -> list[int]:
    """Frame numbers to sample in addition: the middle of each clear stretch (a shot between transitions) with no
    clear sample that is at least `min_seconds` long, or `short_seconds` and steady (a short scene between two
    transitions keeps a short clear middle; a "clear" stretch inside a wipe changes all along), or shorter where the
    picture's change turns at it (turns.py); shortest gaps first, at most `budget`."""
    if edit is None or budget <= 0:
        return []
    clear_sampled = {shot for label, shot in (edit.at(n) for n in sampled) if label == CLEAR}
    want = []
    for first, last, shot in edit.stretches():
        length = last - first + 1
        if shot in clear_sampled:
            continue
        if length < short_seconds * fps:
            if edit.turns is None or edit.turns.get(shot, 1.0) >= TURN:
                continue
        elif length < min_seconds * fps and not edit.steady(shot):
            continue
        want.append((last - first, (first + last) // 2))
    want.sort()
    return sorted(n for _, n in want[:budget])
