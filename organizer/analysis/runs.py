"""Whether two shots show one picture, from the runs of features along them (analysis/keyframes.py, issue 26).

Pixels cannot tell two people apart who sit in one room in the same framing: their small thumbnails differ by
0.05-0.10 and their colour histograms correlate at 0.93-0.99, as closely as two moments of one person signing.
The model's features can, but not on one fixed number: the two visits of a room where people come and go can be
as far apart in features as two people. What separates them is how far a shot's own frames are from each other.
Two shots show one picture when some frame of one is about as close to some frame of the other as the frames of
one shot are among themselves (a moving shot's frames are far apart, so a return of it needs little; a still
shot's are close, so a different person in the same room is told apart). This is the silhouette idea, per pair.

Frames that shared features through the cascade are one row here: a shot whose frames all reused one frame's
features has no spread of its own, and the video's typical spread stands in for it.
"""

from __future__ import annotations

import numpy as np

from organizer.vectors import kmeans

# How much closer a shot's own frames may be to each other than the two shots' closest frames, and the two still be
# one picture. Measured with MobileNet v1 on make_edits_b.py seed 5 (the report half of the clips, studied while
# tuning, so a tune set since): two different signers in one room have their closest frames 0.06-0.24 below their
# spread, the returns of one scene 0.02-0.13 above it; two visits of the office with different people passing fall
# 0.21 below (they count as two pictures). With random-weight InceptionV3, whose cosines all sit near 1, the margin
# is wide and the pixel rules decide as before.
MARGIN = 0.03
# The spread assumed where no shot of the video has two distinct frames (each shot one sample): nothing in the video
# says what "close" means, so a value for MobileNet v1 stands in. Measured on the tune sets make_edits_b.py seeds 5
# and 61: the videos' typical spreads are 0.67-0.96 (median 0.92); two different signers in one room have their
# frames 0.70-0.77 apart, and one-sample visits of one moving scene 0.81-0.85 (round two). 0.85 keeps the signers
# apart and lets most such visits join. Random-weight InceptionV3's cosines all sit near 1, far above it, so there
# the pixel rules decide alone, as they did before for such videos.
UNKNOWN_SPREAD = 0.85


def distinct(x: np.ndarray) -> np.ndarray:
    """The rows of a shot's features with repeats removed (rows the cascade copied from one frame)."""
    return np.unique(x, axis=0) if len(x) > 1 else x


def spread(x: np.ndarray) -> float | None:
    """The median cosine between the distinct frames of a shot (L2-normalised rows); None with fewer than two."""
    rows = distinct(x)
    if len(rows) < 2:
        return None
    sims = rows @ rows.T
    return float(np.median(sims[np.triu_indices(len(rows), 1)]))


def typical_spread(shots: list[np.ndarray]) -> float | None:
    """The median spread over the shots that have one: what "close" means for this video and this model."""
    found = [s for s in (spread(x) for x in shots) if s is not None]
    return float(np.median(found)) if found else None


def agree(a: np.ndarray, b: np.ndarray, typical: float | None) -> bool:
    """Whether shots a and b (their frames' L2-normalised features) can show one picture: their closest frames are
    within MARGIN of the tighter of the two shots' spreads (the video's typical spread when neither has one, and
    UNKNOWN_SPREAD when no shot of the video has). The tighter one: a shot that moves, or that holds a missed cut,
    has a loose spread that would let it join any look-alike (issue 26: three signers in one room became one)."""
    own = [s for s in (spread(a), spread(b)) if s is not None]
    reference = max(own) if own else typical
    if reference is None:
        reference = UNKNOWN_SPREAD
    return float((distinct(a) @ distinct(b).T).max()) >= reference - MARGIN


def pictures(feats: np.ndarray, unit: np.ndarray, typical: float | None, depth: int = 2) -> list[np.ndarray]:
    """A shot's frames (indices into feats, L2-normalised rows) as the pictures they show: split in two by their
    features (2-means) while the two halves do not agree(), at most `depth` times. One picture: [unit].
    Each half needs two distinct frames of its own: a lone frame that differs is as often another moment of a moving
    shot (on the clean splices of bench/eval_keyframes.py, a 2.7 s moving return split this way kept two keyframes)
    as another person."""
    x = feats[unit]
    if depth == 0 or len(distinct(x)) < 2:
        return [unit]
    labels = kmeans(x, 2, n_init=3, seed=0)
    halves = [unit[labels == k] for k in (0, 1)]
    if min(len(distinct(feats[h])) for h in halves) < 2 or agree(feats[halves[0]], feats[halves[1]], typical):
        return [unit]
    out = [p for h in halves for p in pictures(feats, h, typical, depth - 1)]
    return sorted(out, key=lambda p: int(p[0]))
