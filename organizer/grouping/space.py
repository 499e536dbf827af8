"""The geometry every grouping step shares: the library's mean, prepared (centred, unit) vectors, cosine distances,
and matching new clusters to old folders. Works a chunk at a time, so a million vectors never need a second copy.
Imports nothing else of grouping/: clustering, growth, scale and placement build on it.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from organizer.vectors import l2n

CHUNK = 32_768          # rows prepared at a time


def slices(n: int, size: int | None = None) -> Iterator[slice]:
    size = size or CHUNK
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def rows(vectors: Sequence[np.ndarray] | np.ndarray, part) -> np.ndarray:
    """vectors[part] as one float32 array (vectors: an array or a list of vectors; part: a slice or indices)."""
    if isinstance(vectors, np.ndarray):
        return np.asarray(vectors[part], np.float32)
    picked = vectors[part] if isinstance(part, slice) else [vectors[i] for i in part]
    return np.stack(picked).astype(np.float32, copy=False)


def unit_sum(vectors: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """The sum of the vectors' unit vectors, a chunk at a time."""
    total = None
    for part in slices(len(vectors)):
        s = l2n(rows(vectors, part)).sum(0)
        total = s if total is None else total + s
    return total


def library_mean(vectors) -> np.ndarray:
    """The common component of a library's video vectors (the mean of their unit vectors): an array or a list of
    vectors, summed a chunk at a time."""
    if isinstance(vectors, np.ndarray) and vectors.ndim == 1:
        vectors = vectors[None]
    return unit_sum(vectors) / len(vectors)


def prepare(vectors: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Mean-centre, then L2-normalise: raw CNN features share a large common component.

    Without `mean` the library's own mean is used (one video stays as it is); pass the stored mean to place new
    videos in the same space as existing centroids.
    """
    x = l2n(np.atleast_2d(vectors))
    if mean is not None:
        return l2n(x - mean)
    if len(x) > 1:
        x = l2n(x - x.mean(0))
    return x


def distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Cosine distances (0 same direction .. 2 opposite) between prepared vectors and unit centroids."""
    return np.clip(1.0 - np.atleast_2d(x) @ np.atleast_2d(centroids).T, 0.0, 2.0)


def match_clusters(new_labels: np.ndarray, old_folders: list[str | None], new_centroids: np.ndarray,
                   old_names: list[str], old_centroids: np.ndarray | None) -> dict[int, str]:
    """Give new clusters the old folder names so that as few files as possible move (Hungarian assignment).

    The score of (new cluster, old folder) is the number of videos it would leave in place, plus the centroids'
    cosine similarity as a tie-breaker (which also matches clusters with no videos in common by content).
    Returns new label -> old name for the matched clusters; unmatched new clusters need new names.
    """
    from scipy.optimize import linear_sum_assignment

    k = int(new_labels.max() + 1) if len(new_labels) else 0
    if not old_names or not k:
        return {}
    score = np.zeros((k, len(old_names)))
    index = {name: j for j, name in enumerate(old_names)}
    for label, folder in zip(new_labels, old_folders):
        if folder in index:
            score[label, index[folder]] += 1
    if old_centroids is not None and len(old_centroids) == len(old_names):
        score += 0.01 * (np.atleast_2d(new_centroids) @ np.atleast_2d(old_centroids).T)
    rows, cols = linear_sum_assignment(score, maximize=True)
    return {int(r): old_names[c] for r, c in zip(rows, cols)}
