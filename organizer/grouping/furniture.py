"""Library furniture (issue 25): a picture that recurs in many videos that are otherwise unrelated (an uploader's
intro, an end card, a title card, colour bars) is the uploader's, not the video's. It must not decide the groups:
a video's grouping vector leaves such keyframes out. Pure: keyframe features in, pictures and marks out.

How a picture is found: keyframes of different videos that are near copies (cosine >= NEAR, after the keyframes'
common component is taken out) are one picture. Features, not pixels: the frames of an animated intro differ pixel
for pixel (a logo in another place) and are one picture to the model. A picture in at least MIN_VIDEOS videos (ENDS
when it opens every one of them, or closes every one) is furniture when what those videos show besides recurring
pictures is unrelated (for at least half of their pairs, the cosine between their other keyframes' means is below
UNRELATED). A scene that many videos of one group share is related besides, and keeps counting.

Up to EXACT keyframes every pair is compared. Beyond, near copies are found through an index (random-hyperplane
hashes, TABLES tables of BITS bits): only keyframes that share a bucket are compared, so a large library's
keyframes are never compared all against all.
"""

from __future__ import annotations

import numpy as np

from organizer.types import Furniture, Picture
from organizer.vectors import l2n

NEAR = 0.8          # centred cosine of two copies of one picture at other sizes and qualities (tuned: intros of
                     # the tune library at 480-854 px and CRF 20-30 score 0.9-1.0; two frames of one shot 0.6-0.9)
MIN_VIDEOS = 3       # a picture in fewer videos is not the library's furniture
ENDS = 2             # ... or in this many when it is the first keyframe of every video it is in, or the last of
                     # every one: an intro or an end card sits at one end, and in a small library an uploader's card
                     # may close two videos only (tune libraries, true k with furniture: style b 0.743 -> 0.940 with
                     # MobileNet v1, style a 0.746 -> 0.800 with v2; the clean twins unchanged)
UNRELATED = 0.45     # centred cosine of two videos' other pictures below which they are unrelated (tuned:
                     # 0.54-0.95 within a group of the tune library, at most 0.39 between groups)
EXACT = 8192         # up to this many keyframes every pair is compared (a matrix product a slice at a time)
TABLES, BITS = 16, 10  # beyond: random-hyperplane buckets; a pair at cosine 0.85 shares one with p = 0.9
BUCKET = 1024        # a bucket larger than this is compared a leader at a time (an intro in ten thousand videos)
CHECKED = 200        # videos whose other pictures are compared, per picture


def grouping_vector(features: np.ndarray, weights, marked) -> np.ndarray | None:
    """The video's vector without its furniture keyframes (None: nothing marked, or nothing else to keep: a bare
    video, which grouping leaves alone)."""
    skip = set(marked)
    keep = [i for i in range(len(features)) if i not in skip]
    if not marked or not keep:
        return None
    w = np.asarray(weights, np.float64)[keep] if weights is not None and len(weights) == len(features) else None
    return l2n(np.average(np.asarray(features, np.float64)[keep], axis=0, weights=w)).astype(np.float32)


def _hashes(x: np.ndarray, seed: int) -> np.ndarray:
    """TABLES bucket keys per row (random hyperplanes through the centred space)."""
    planes = np.random.default_rng(seed).normal(size=(TABLES, x.shape[1], BITS)).astype(np.float32)
    powers = (1 << np.arange(BITS)).astype(np.int64)
    return np.stack([((x @ planes[t]) > 0).astype(np.int64) @ powers for t in range(TABLES)], axis=1)


class Union:
    """Union-find over 0..n-1 (the smaller root wins, so results do not depend on the order of joins)."""

    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_blocks(x: np.ndarray, owner: np.ndarray, threshold: float, seed: int = 0):
    """Pairs of rows of x (unit) from different owners with cosine >= threshold, a block at a time: (rows, cols)
    index arrays. Every pair up to EXACT rows, else only pairs that share a bucket of the hash index (a pair may
    come more than once). Arrays, never one pair at a time: an intro in ten thousand videos is 10^8 pairs."""
    if len(x) <= EXACT:
        everything = np.arange(len(x))
        for start in range(0, len(x), BUCKET):
            part = everything[start:start + BUCKET]
            rows, cols = np.nonzero((x[part] @ x.T) >= threshold)
            r, c = part[rows], cols
            keep = (owner[r] != owner[c]) & (r < c)
            yield r[keep], c[keep]
        return
    keys = _hashes(x, seed)
    groups = []
    for t in range(TABLES):
        order = np.argsort(keys[:, t], kind="stable")
        groups += [b for b in np.split(order, np.flatnonzero(np.diff(keys[order, t])) + 1) if len(b) > 1]
    for bucket in groups:
        if len(bucket) > BUCKET:
            yield from _stars(x, owner, bucket, threshold)
            continue
        rows, cols = np.nonzero((x[bucket] @ x[bucket].T) >= threshold)
        r, c = bucket[rows], bucket[cols]
        keep = (owner[r] != owner[c]) & (r < c)
        yield r[keep], c[keep]


def _stars(x: np.ndarray, owner: np.ndarray, bucket: np.ndarray, threshold: float):
    """A large bucket (one picture in thousands of videos) a leader at a time: the first row not yet placed, and
    every row near it. As many comparisons as rows times pictures, not rows squared; the pairs are leader-member
    (joined, they connect the same rows)."""
    left = bucket
    while len(left):
        leader = left[0]
        near = (x[left] @ x[leader]) >= threshold
        members = left[near]
        keep = owner[members] != owner[leader]
        yield np.full(int(keep.sum()), leader), members[keep]
        left = left[~near]


def _near_copies(x: np.ndarray, owner: np.ndarray, seed: int) -> Union:
    """Keyframes joined with their near copies in other videos: each block's connected components are joined
    through one member each (as many joins as keyframes, not as pairs)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    union = Union(len(x))
    for r, c in near_blocks(x, owner, NEAR, seed):
        if not len(r):
            continue
        nodes, local = np.unique(np.concatenate([r, c]), return_inverse=True)
        graph = coo_matrix((np.ones(len(r), bool), (local[:len(r)], local[len(r):])), shape=(len(nodes),) * 2)
        _, labels = connected_components(graph, directed=False)
        first = {}
        for node, label in zip(nodes.tolist(), labels.tolist()):
            if label in first:
                union.join(first[label], node)
            else:
                first[label] = node
    return union


def find(keyframes: dict[str, np.ndarray], seed: int = 0) -> Furniture:
    """The furniture among these videos' keyframes (video id -> keyframe features, one row per keyframe)."""
    ids = [v for v, f in keyframes.items() if f is not None and len(f)]
    if len(ids) < MIN_VIDEOS:
        return Furniture()
    raw = np.concatenate([l2n(keyframes[v]) for v in ids]).astype(np.float32)
    owner = np.concatenate([np.full(len(keyframes[v]), i) for i, v in enumerate(ids)])
    mean = raw.mean(0)
    x = l2n(raw - mean)
    union = _near_copies(x, owner, seed)
    roots = np.array([union.find(i) for i in range(len(x))])
    starts = np.concatenate([[0], np.cumsum([len(keyframes[v]) for v in ids])])
    first, last = np.zeros(len(x), bool), np.zeros(len(x), bool)
    first[starts[:-1]] = True
    last[starts[1:] - 1] = True
    candidates = []
    for members in np.split(np.argsort(roots, kind="stable"), np.flatnonzero(np.diff(np.sort(roots))) + 1):
        videos = np.unique(owner[members])
        ends = len(videos) >= ENDS and (first[members].all() or last[members].all())
        if len(videos) >= MIN_VIDEOS or ends:
            candidates.append((members, videos))
    # What a video shows besides: first without any recurring picture; a picture that leaves fewer than two
    # videos anything else is judged again without only the pictures found to be furniture (two pictures that
    # always come together are a group's own scenes). Still undecided: not furniture.
    shared = np.zeros(len(x), bool)
    for members, _ in candidates:
        shared[members] = True
    verdicts = [_unrelated(x, owner, shared, videos, seed) for _, videos in candidates]
    furniture = np.zeros(len(x), bool)
    for (members, _), verdict in zip(candidates, verdicts):
        furniture[members] = bool(verdict)
    # Judged again one at a time, the most widespread first, each without the furniture found so far: an intro
    # that also fills the other keyframes of a group's videos is left out before that group's own scenes are
    # judged (with it in, the group's one video without the intro looked unrelated to those with it).
    for k in sorted((k for k, v in enumerate(verdicts) if v is None), key=lambda k: (-len(candidates[k][1]), k)):
        members, videos = candidates[k]
        verdicts[k] = _unrelated(x, owner, furniture | _mask(len(x), members), videos, seed)
        furniture[members] |= bool(verdicts[k])
    _keep_content(x, owner, candidates, verdicts, furniture, (first, last), len(ids), seed)
    pictures, marks = [], {}
    for (members, videos), verdict in zip(candidates, verdicts):
        if not verdict:
            continue
        for m in members:
            video = ids[int(owner[m])]
            marks[video] = tuple(sorted(set(marks.get(video, ())) | {int(m - starts[owner[m]])}))
        first = int(members[0])
        pictures.append(Picture(l2n(x[members].mean(0)), len(videos), ids[int(owner[first])],
                                first - int(starts[owner[first]])))
    pictures.sort(key=lambda p: -p.videos)
    return Furniture(tuple(pictures), mean, marks)


def _keep_content(x: np.ndarray, owner: np.ndarray, candidates: list, verdicts: list, furniture: np.ndarray,
                  ends: tuple[np.ndarray, np.ndarray], n_videos: int, seed: int) -> None:
    """A picture inside its videos (not what every video it is in opens, or closes, with, as an intro or an end
    card does) that is all some video shows besides the furniture found is that video's content (copies of one
    video, or pieces of one recording, with nothing else): such a video is related to every other one of that
    picture. Judged again the least widespread first, so that a group's scene is kept before the intros and end
    cards around it are judged; `verdicts` and `furniture` are updated in place. Copies had made a group's one
    picture recur in five videos, two of them with something else to compare, and it became furniture (tune
    library b7 of bench/make_library.py: three copies of a bottle video, left with nothing of their own, were
    neither grouped nor found to be copies). Not for a picture at one end of all its videos: a trimmed copy that is
    nearly all intro shows nothing else either (bench/make_library.py's report half, seed 22, style a, read since:
    the intro of six videos of three groups then stayed in, and two signers became one video)."""
    first, last = ends
    for k in sorted((k for k, v in enumerate(verdicts) if v), key=lambda k: (len(candidates[k][1]), k)):
        members, videos = candidates[k]
        if first[members].all() or last[members].all():
            continue
        mine = _mask(len(x), members)
        left = np.bincount(owner[~furniture & ~mine], minlength=n_videos)     # what else each video shows
        if (left[videos] == 0).any():
            verdicts[k] = _unrelated(x, owner, furniture | mine, videos, seed, bare=True)
            furniture[members] = bool(verdicts[k])


def _mask(n: int, members: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[members] = True
    return mask


def _unrelated(x: np.ndarray, owner: np.ndarray, shared: np.ndarray, videos: np.ndarray, seed: int,
               bare: bool = False) -> bool | None:
    """Whether what these videos show besides the `shared` keyframes is unrelated (the cosine of their rests below
    UNRELATED for at least half of their pairs); None when fewer than two of them show anything else. With `bare`,
    a video that shows nothing else counts too, as related to every other one (the picture is its content)."""
    if len(videos) > CHECKED:
        videos = np.random.default_rng(seed).choice(videos, CHECKED, replace=False)
    rests, empty = [], 0
    for v in videos:
        own = np.flatnonzero((owner == v) & ~shared)
        rest = x[own].mean(0) if len(own) else None
        if rest is not None and np.linalg.norm(rest) > 0.2:     # not pictures that cancel out in the centred space
            rests.append(l2n(rest))
        empty += int(bare and rest is None)
    if len(rests) + empty < 2:
        return None
    r = np.stack(rests) if rests else np.zeros((0, x.shape[1]))
    upper = np.triu_indices(len(r), 1)
    n = len(rests) + empty
    return float(((r @ r.T)[upper] < UNRELATED).sum()) / (n * (n - 1) / 2) >= 0.5


def match(features: np.ndarray, furniture: Furniture) -> tuple[int, ...]:
    """Which of one video's keyframes are copies of known furniture pictures (a new video on a later night)."""
    if not furniture.pictures or furniture.mean is None or features is None or not len(features):
        return ()
    x = l2n(l2n(features) - furniture.mean)
    sims = x @ np.stack([p.feature for p in furniture.pictures]).T
    return tuple(int(i) for i in np.flatnonzero(sims.max(1) >= NEAR))


def sample(fps: list[str], fresh: set[str], size: int, seed: int = 0) -> list[str]:
    """The videos one run compares: all of them up to `size`, else the new ones and a random sample of the rest."""
    fps = sorted(set(fps))
    if len(fps) <= size:
        return fps
    rest = sorted(set(fps) - fresh)
    picked = np.random.default_rng(seed).choice(len(rest), max(0, size - len(fresh)), replace=False)
    return sorted(fresh | {rest[i] for i in picked})


def refresh(data: dict[str, np.ndarray], weights: dict[str, tuple], marked: dict[str, tuple[int, ...]],
            known: Furniture, seed: int = 0) -> tuple[Furniture, dict[str, tuple[tuple[int, ...], np.ndarray | None]]]:
    """The pictures found in these videos' keyframes (`data`: video id -> keyframe features), with the keyframes
    that match pictures known from before, and for each video whose marks change (`marked`: the marks it has now)
    its new marks and grouping vector (None: unmarked, or bare)."""
    found = find(data, seed)
    marks = dict(found.marks)
    for fp, rows in data.items():
        extra = match(rows, known) if known.pictures else ()
        if extra:
            marks[fp] = tuple(sorted(set(marks.get(fp, ())) | set(extra)))
    pictures = found if found.pictures or not known.pictures else known
    changes = {}
    for fp, rows in data.items():
        mark = marks.get(fp, ())
        if mark != marked.get(fp, ()):
            changes[fp] = (mark, grouping_vector(rows, weights.get(fp), mark))
    return Furniture(pictures.pictures, pictures.mean), changes

