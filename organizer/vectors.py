"""Vector arithmetic shared by keyframes and grouping: unit-length rows (`l2n`), and KMeans with the silhouette
score for the few dozen frames of one video, in NumPy.

Keyframe selection clusters at most a few hundred points per video, many times over (k = 2, 3, ...). At that
size scikit-learn's per-call overhead dominates, and importing it costs every worker process a second, so the
frames use this small implementation (k-means++ seeding, Lloyd iterations, the best of a few seeded starts).
Clustering the library's videos still uses scikit-learn.
"""

from __future__ import annotations

import numpy as np


def l2n(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); an all-zero row stays zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


def _sq_dist(x: np.ndarray, x_sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = x_sq[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _plusplus(x: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centre drawn with probability proportional to its squared distance."""
    centres = [x[rng.integers(len(x))]]
    closest = _sq_dist(x, x_sq, np.array(centres))[:, 0]
    for _ in range(1, k):
        total = closest.sum()
        pick = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=closest / total)
        centres.append(x[pick])
        closest = np.minimum(closest, _sq_dist(x, x_sq, x[pick][None])[:, 0])
    return np.array(centres)


def kmeans(x: np.ndarray, k: int, n_init: int = 3, seed: int = 0, max_iter: int = 100) -> np.ndarray:
    """Cluster labels (0..k-1) of the best of `n_init` seeded runs (lowest within-cluster squared distance)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if k >= n:
        return np.arange(n)
    x_sq = (x * x).sum(1)
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = np.zeros(n, dtype=int), np.inf
    for _ in range(n_init):
        centres = _plusplus(x, x_sq, k, rng)
        labels = np.full(n, -1)
        for _ in range(max_iter):
            d = _sq_dist(x, x_sq, centres)
            new_labels = d.argmin(1)
            if (new_labels == labels).all():
                break
            labels = new_labels
            for j in range(k):
                members = labels == j
                if members.any():
                    centres[j] = x[members].mean(0)
        inertia = float(d[np.arange(n), labels].sum())
        if inertia < best_inertia - 1e-12:
            best_labels, best_inertia = labels, inertia
    return best_labels


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient with Euclidean distances (a point alone in its cluster scores 0)."""
    x = np.asarray(x, dtype=np.float64)
    x_sq = (x * x).sum(1)
    dist = np.sqrt(np.maximum(x_sq[:, None] - 2.0 * (x @ x.T) + x_sq[None, :], 0.0))
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    mean_to = np.stack([dist[:, labels == c].mean(1) for c in clusters], axis=1)     # (n, clusters)
    sizes = np.array([(labels == c).sum() for c in clusters])
    own = np.searchsorted(clusters, labels)
    n = len(x)
    own_size = sizes[own]
    a = mean_to[np.arange(n), own] * own_size / np.maximum(own_size - 1, 1)        # exclude the point itself
    others = mean_to.copy()
    others[np.arange(n), own] = np.inf
    b = others.min(1)
    s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())
