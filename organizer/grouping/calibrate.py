"""How close is close enough to belong: auto's max_distance, read from the library's own distances (issue 25).

A fixed number fits one model only: 0.7 was measured on MobileNet v1 over the shared clips; with MobileNet v2 it
left most clips in _unsorted, and random-weight InceptionV3 spreads the same groups from 0.03 to 1.28. What every
feature space shares is that most pairs of videos in a library are unrelated. So the threshold is a low quantile
of the distances between pairs of videos: closer than all but QUANTILE of the library's pairs. Related pairs sit
in that low tail. Where a library is a few large groups, related pairs are more than QUANTILE of all pairs and the
quantile falls among them (it would split groups): then the unrelated pairs' own lower edge counts, estimated
from the upper half of the distances (which related pairs do not reach): median - SPREAD x sigma.

Measured (docs/BENCHMARKS.md, "Calibrated max_distance"): tuned on the generated tune libraries
(bench/make_library.py --half tune), reported on the report libraries and the shared clips, for MobileNet v1, v2
and random-weight InceptionV3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from organizer.grouping.space import prepare, rows

QUANTILE = 0.08         # the share of a library's pairs that count as close (tuned: 0.05 split the groups of the
                        # tune library, 0.10 merged random-weight groups on the shared clips)
SPREAD = 2.5            # how far below the median the unrelated pairs' lower edge lies, in robust sigmas
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
    low, median = np.quantile(d, [QUANTILE, 0.5])
    edge = median - SPREAD * 1.4826 * (np.quantile(d, 0.75) - median)
    value = float(np.clip(max(low, edge), *BOUNDS))
    how = (f"{QUANTILE:.0%} of the pairs of videos in this library lie closer than that" if low >= edge else
           "the lower edge of this library's unrelated pairs (more than "
           f"{QUANTILE:.0%} of its pairs are close: a few large groups)")
    return Threshold(round(value, 4), "calibrated", f"max_distance {value:.2f}, calibrated over {n} videos: {how}, "
                                                    f"in this model's feature space (median pair {median:.2f}); pass "
                                                    "--max-distance to choose", n)
