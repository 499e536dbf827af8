"""How close is close enough to belong: auto's max_distance, read from the library's own distances (issue 25).

A fixed number fits one model only: 0.7 was measured on MobileNet v1 over the shared clips; with MobileNet v2 it
left most clips in _unsorted, and random-weight InceptionV3 spreads the same groups from 0.03 to 1.28. What every
feature space shares is that most pairs of videos in a library are unrelated. So the threshold is a low quantile
of the distances between pairs of videos: closer than all but LOW of the library's pairs, and never above the
unrelated pairs' lower edge, median - 2 sigma, sigma estimated from the upper half of the distances (which related
pairs do not reach). Where a library is a few large groups, related pairs are more than LOW of all pairs and the
quantile falls among them (it would split groups): then median - SPREAD x sigma. Where the distances spread so wide
that the edge is near zero (random weights), QUANTILE of the pairs.

Measured (docs/BENCHMARKS.md, "Calibrated max_distance"): tuned on the generated tune libraries
(bench/make_library.py --half tune), reported on the report libraries and the shared clips, for MobileNet v1, v2
and random-weight InceptionV3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from organizer.grouping.space import prepare, rows

LOW = 0.05              # the share of a library's pairs that count as close (0.08 grouped two pairs of unrelated
                        # shared clips on MobileNet v1), never above the unrelated pairs' edge (median - 2 sigma)
QUANTILE = 0.08         # where that edge says nothing (a compressed space: random weights), this share
COMPRESSED = 0.15       # an edge (median - 2 sigma) this low means a compressed space
SPREAD = 2.5            # a few large groups: at least median - 2.5 sigma (the low quantile falls among them)
SAMPLE = 800            # videos sampled for the pairs (320,000 pairs): the quantile is stable well before that
FALLBACK = 0.7          # with too few videos to tell: the value measured on MobileNet v1 (shared clips), as before
MIN_VIDEOS = 20         # fewer videos are mostly unrelated pairs with a few related ones: the first night of the
                        # shared clips (15 of 29, 6 of them with a partner) calibrated 0.89 and merged unrelated
                        # clips (ARI 0.58, against 0.91 at 0.7); with 20 the tune libraries calibrate as a whole
GROWTH = 1.25           # a later run keeps the stored value until the library has grown by a quarter (a first night
                        # of 15 clips calibrated 0.89 where all 29 give 0.78: the second night calibrates again)
BOUNDS = (0.05, 1.5)


@dataclass(frozen=True)
class Threshold:
    """The max_distance a run used, how it was chosen ("given", "calibrated", "stored", "default") and why."""

    value: float
    how: str
    why: str
    videos: int = 0          # calibrated over this many videos (a later run calibrates again once the library grew)

    def as_dict(self) -> dict:
        return {"max_distance": round(self.value, 4), "chosen": self.how, "why": self.why, "videos": self.videos}


def given(value: float) -> Threshold:
    return Threshold(float(value), "given", f"max_distance {value:g}, as given (--max-distance or the settings "
                                            "file)")


def calibrate(vectors, mean: np.ndarray | None, seed: int = 0) -> Threshold:
    """The threshold for these video vectors (an array or a list), in the space of `mean` (None: their own)."""
    n = len(vectors)
    if n < MIN_VIDEOS:
        return Threshold(FALLBACK, "default", f"max_distance {FALLBACK:g}: {n} video{'s are' if n != 1 else ' is'} "
                                              f"too few to measure this library's distances (it takes "
                                              f"{MIN_VIDEOS}); pass --max-distance to choose")
    picked = np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False)) if n > SAMPLE else np.arange(n)
    x = prepare(rows(vectors, picked), mean).astype(np.float64)
    upper = np.triu_indices(len(x), 1)
    d = np.clip(1.0 - (x @ x.T)[upper], 0.0, 2.0)
    low, quantile, median, upper_q = np.quantile(d, [LOW, QUANTILE, 0.5, 0.75])
    sigma = 1.4826 * (upper_q - median)                  # from the upper half, which related pairs do not reach
    ceiling, floor = median - 2.0 * sigma, max(low, median - SPREAD * sigma)
    if ceiling <= COMPRESSED:         # the distances spread so wide that their edge says nothing (random weights)
        value, how = quantile, f"{QUANTILE:.0%} of the pairs of videos in this library lie closer than that"
    elif floor >= ceiling:
        value, how = ceiling, "the lower edge of this library's unrelated pairs (median - 2 sigma)"
    elif low >= median - SPREAD * sigma:
        value, how = low, f"{LOW:.0%} of the pairs of videos in this library lie closer than that"
    else:
        value, how = floor, (f"the unrelated pairs' far edge (more than {LOW:.0%} of the pairs are close: a few "
                             "large groups)")
    value = float(np.clip(value, *BOUNDS))
    return Threshold(round(value, 4), "calibrated", f"max_distance {value:.2f}, calibrated over {n} videos: {how}, "
                                                    f"in this model's feature space (median pair {median:.2f}); pass "
                                                    "--max-distance to choose", n)
