"""Reposts (issue 25): groups of files that are the same video, re-encoded, resized, cropped, mirrored or trimmed.
Pure: what analysis stores (keyframe features, 16x16 grey looks and times, durations, timelines) in, groups out.

Where both videos have a timeline (analysis/timeline.py: a 16x16 grey frame every 0.25 s; analyses made since
schema v6), they are one video when the shorter lies inside the longer frame after frame, alike in picture and in
motion, and alike where it shows its own keyframes (grouping/timeline.py; a copy that is nearly all intro is not
the same video as another with that intro); a trimmed one must move alike outside its furniture. Without
timelines (older analyses, the OpenCV decoder), the keyframes decide: most keyframes of the shorter one have a copy
in the other, a keyframe whose features are near (cosine >= SAME, centred; or >= ALIKE where the 16x16 grey looks
agree, as they are or mirrored), at the time a copy of it would sit, the copies in order. Library furniture never
counts (two videos that share only an intro are not one video). A copy of another length (trimmed) needs two
keyframes at one offset: two parts of one static recording show the same picture, but once.

Candidates come from keyframes near one another (grouping/furniture.near_blocks): every pair of keyframes in a small
library, only those that share a bucket of the random-hyperplane index beyond 8,192 keyframes; only candidate pairs
of videos are checked, never every pair of videos, and only their timelines are read.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from organizer.grouping import timeline as tl
from organizer.grouping.furniture import EXACT, Union, near_blocks
from organizer.vectors import l2n

SAME = 0.8           # centred cosine of a keyframe and its copy (tuned: re-encodes, resizes and mirrors 0.85-1.0
                     # on the tune library, where the copy's keyframe is the same moment)
ALIKE = 0.65         # ... or this close, when the 16x16 grey looks agree (correlation >= LOOK, as they are or
LOOK = 0.9           # mirrored): the same frame at a lower quality
COVER = 0.6          # share of the shorter video's own keyframes that must have a copy in the other (a copy's
                     # keyframes are chosen again: one of three may fall on another moment)
PLAIN = 0.9          # candidates also where keyframes' plain (not centred) cosine reaches this, in a library small
                     # enough to compare every pair: four copies of one room among six videos are the library's
                     # mean, and their centred cosines fell to 0.29-0.57 (tests/test_reposts.py)
SHORTEST = 0.5       # a trimmed copy keeps at least half of the video
SAME_LENGTH = 0.03   # durations this close (as a share): not trimmed, so a copy's keyframes sit at the same times
SAME_TIME = 0.5      # at one length, how far (seconds) a copy's only keyframe may sit from the original's (two
                     # parts of one recording of one length, one keyframe each: 0.9 apart)
SHIFT = 1.2          # ... and each of two or more (a copy's keyframe is chosen again in its shot: up to 1.1 s)
SPREAD = 1.5         # a trimmed copy's matched keyframes agree on where it starts within this (its keyframes stand
                     # for shots and move inside a trimmed one: 1.4 s in tests/test_reposts.py)
SLACK = 1.0          # seconds a copy's keyframe may sit from where the original's is (the sampling grid of a
                     # trimmed copy moves by up to one sample; two parts of one static recording: 1.3 apart)


def _looks(rows: np.ndarray | None, count: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Centred unit looks, as they are and mirrored (None when unknown)."""
    if rows is None or len(rows) != count:
        return None
    side = int(round(np.sqrt(rows.shape[1])))
    flat = rows.astype(np.float32)
    mirrored = flat.reshape(-1, side, side)[:, :, ::-1].reshape(len(flat), -1)

    def unit(a):
        a = a - a.mean(1, keepdims=True)
        return a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-6, None)
    return unit(flat), unit(mirrored)


def _near(short: dict, long_: dict, idx_s: list[int], idx_l: list[int], mean: np.ndarray) -> np.ndarray:
    """Which of the longer video's keyframes idx_l each of the shorter's idx_s may be a copy of: near in features
    (or alike in look too), where a copy of it would sit in time."""
    if not idx_s or not idx_l:
        return np.zeros((len(idx_s), len(idx_l)), bool)
    xs, xl = (l2n(l2n(v["features"][idx]) - mean) for v, idx in ((short, idx_s), (long_, idx_l)))
    sims = xs @ xl.T
    near = sims >= SAME
    ls, ll = _looks(short["looks"], len(short["features"])), _looks(long_["looks"], len(long_["features"]))
    if ls is not None and ll is not None:
        alike = np.maximum(ls[0][idx_s] @ ll[0][idx_l].T, ls[1][idx_s] @ ll[0][idx_l].T)
        near |= (sims >= ALIKE) & (alike >= LOOK)
    offset = np.asarray(long_["times"], float)[idx_l][None, :] - np.asarray(short["times"], float)[idx_s][:, None]
    gap = long_["duration"] - short["duration"]
    return near & (offset >= -SLACK) & (offset <= gap + SLACK)


def _in_order(short: dict, long_: dict, idx_s: list[int], idx_l: list[int], near: np.ndarray) -> list[float]:
    """The offsets (where in the longer video the shorter one starts) of the copies found in time order."""
    offsets, last = [], -1
    for i in range(len(idx_s)):
        later = [j for j in np.flatnonzero(near[i]) if j > last]
        if later:
            last = later[0]
            offsets.append(long_["times"][idx_l[last]] - short["times"][idx_s[i]])
    return offsets


def _own(v: dict) -> list[int]:
    return [i for i in range(len(v["features"])) if i not in v["furniture"]]


def timeline_of(v: dict) -> tl.Timeline:
    """A video's timeline with the moments of its own keyframes and of its furniture keyframes."""
    return tl.Timeline(*v["timeline"], tuple(v["times"][i] for i in _own(v)),
                       tuple(v["times"][i] for i in v["furniture"]))


def _by_timeline(short: dict, long_: dict) -> bool:
    """One video by their timelines (grouping/timeline.py), where both have one: frame after frame alike in
    picture and in motion, the shorter inside the longer, and alike where each shows its own keyframes (so that a
    copy that is nearly all intro is not the same video as another with that intro). A video of nothing but
    furniture is never judged. A trimmed copy (another length) must also move alike somewhere outside its
    furniture: where nothing moves, a piece of a still scene looks like every other piece of it (the old rule's
    "two keyframes", for frames)."""
    if not _own(short) or not _own(long_):
        return False
    match = tl.compare(timeline_of(short), timeline_of(long_))
    trimmed = long_["duration"] - short["duration"] > SAME_LENGTH * long_["duration"]
    return match is not None and match.same and (match.windows > 0 or not trimmed)


def same_video(a: dict, b: dict, mean: np.ndarray) -> bool:
    """Whether two videos (each: features, looks, times, duration, furniture) are one video: at least COVER of the
    own keyframes of one (the shorter; at one length, the one with fewer) have a copy in the other, in time order,
    where a copy would sit. A trimmed copy (another length) also needs two such keyframes, its furniture counted
    for that (an intro where the original has it places the copy in time): two parts of one static recording show
    the same picture, but once, and not where their intros say. Keyframes stand for shots: in a trimmed shot the
    keyframe moves: the copy lies inside the original (give or take SLACK) and its keyframes agree on where it
    starts within SPREAD."""
    short, long_ = (a, b) if a["duration"] <= b["duration"] else (b, a)
    if long_["duration"] <= 0 or short["duration"] < SHORTEST * long_["duration"]:
        return False
    if short.get("timeline") is not None and long_.get("timeline") is not None:
        return _by_timeline(short, long_)
    trimmed = long_["duration"] - short["duration"] > SAME_LENGTH * long_["duration"]
    if not trimmed and len(_own(short)) > len(_own(long_)):
        short, long_ = long_, short
    own_s, own_l = _own(short), _own(long_)
    offsets = _in_order(short, long_, own_s, own_l, _near(short, long_, own_s, own_l, mean))
    if not offsets or len(offsets) < COVER * len(own_s):
        return False
    if not trimmed:       # one length, one sampling grid: a copy's keyframes sit near the original's times
        return max(abs(o) for o in offsets) <= (SAME_TIME if len(offsets) == 1 else SHIFT)
    fs, fl = list(short["furniture"]), list(long_["furniture"])
    offsets += _in_order(short, long_, fs, fl, _near(short, long_, fs, fl, mean))
    return len(offsets) >= 2 and max(offsets) - min(offsets) <= SPREAD


def groups(videos: dict[str, dict], seed: int = 0, timelines: Callable[[list[str]], dict] | None = None,
           new: set[str] | None = None) -> list[list[str]]:
    """Groups (of at least two) of video ids that are the same video. `videos`: id -> {"features": keyframe rows,
    "looks": 16x16 grey rows or None, "times", "duration", "furniture": keyframe positions}. `timelines(ids)`
    gives id -> (timeline rows, step) for the videos that have one; it is asked only for the videos of candidate
    pairs. `new`: judge only the pairs with one of these (the others were judged on the night they came)."""
    ids = [v for v, d in videos.items() if d["features"] is not None and len(d["features"])]
    if len(ids) < 2:
        return []
    rows = [l2n(videos[v]["features"]) for v in ids]
    raw = np.concatenate(rows).astype(np.float32)
    owner = np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)])
    mean = raw.mean(0)
    own = np.concatenate([[k not in videos[v]["furniture"] for k in range(len(videos[v]["features"]))]
                          for v in ids])
    x = l2n(raw - mean)
    candidates = set()
    blocks = near_blocks(x, owner, ALIKE, seed)
    if len(x) <= EXACT:      # a small library of many copies moves its own mean: plain cosine finds them too
        blocks = itertools.chain(blocks, near_blocks(l2n(raw), owner, PLAIN, seed))
    for r, c in blocks:
        keep = own[r] & own[c]
        a, b = owner[r[keep]], owner[c[keep]]
        if len(a):
            pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], 1), axis=0)
            candidates.update(map(tuple, pairs.tolist()))
    if new is not None:
        candidates = {(i, j) for i, j in candidates if ids[i] in new or ids[j] in new}
    if timelines is not None and candidates:
        found = timelines(sorted({ids[i] for pair in candidates for i in pair}))
        videos = {v: {**d, "timeline": found[v]} if v in found else d for v, d in videos.items()}
    union = Union(len(ids))
    for i, j in sorted(candidates):
        if union.find(i) != union.find(j) and same_video(videos[ids[i]], videos[ids[j]], mean):
            union.join(i, j)
    found: dict[int, list[str]] = {}
    for i, v in enumerate(ids):
        found.setdefault(union.find(i), []).append(v)
    return sorted((sorted(g) for g in found.values() if len(g) > 1), key=lambda g: g[0])
