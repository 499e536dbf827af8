"""Cluster video vectors across the library: KMeans for N clusters, distance groups for auto."""

from __future__ import annotations

import logging

import numpy as np

# scikit-learn is imported where it is used: importing it costs ~1.7 s, and a nightly run with nothing new
# never clusters.

from organizer.grouping import scale
from organizer.grouping.space import library_mean, prepare
from organizer.vectors import l2n

log = logging.getLogger(__name__)


class VideoClusterer:
    """Cluster prepared video vectors. fit() returns self.

    With n_clusters, KMeans makes that many clusters. With auto (None), the clusters are the groups of videos that
    lie within max_distance of their group's centre, of at least min_size videos (average linkage, the same rule a
    later run uses to place new videos and open clusters), so a library organised night by night ends up like one
    organised at once; videos that fit no group get the label -1 (they wait in _unsorted). `ceiling` keeps only the
    largest groups.

    Learned: labels_ (-1: no group), centroids_, mean_, n_clusters_, choice_ (how k was chosen, a sentence),
    warnings_ (sentences for the user)."""

    def __init__(self, n_clusters: int | None = None, random_state: int = 0, max_distance: float = 0.7,
                 min_size: int = 2, ceiling: int | None = None, large: int = scale.LARGE):
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.max_distance = max_distance
        self.min_size = min_size
        self.ceiling = ceiling
        self.large = large

    def fit(self, vectors: np.ndarray) -> "VideoClusterer":
        self.warnings_ = []
        if len(vectors) > self.large:
            return self._fit_large(vectors)
        x = prepare(vectors)
        n = len(x)
        labels = self._auto(x) if self.n_clusters is None else self._kmeans(x)
        self.labels_ = self._canonical(labels)
        self.mean_ = library_mean(vectors) if n else None
        self.n_clusters_ = int(self.labels_.max() + 1) if n and self.labels_.max() >= 0 else 0
        self.centroids_ = (np.stack([l2n(x[self.labels_ == c].mean(0)) for c in range(self.n_clusters_)])
                           if self.n_clusters_ else np.zeros((0, x.shape[1] if n else 0), np.float32))
        self._note_singletons()
        return self

    def _fit_large(self, vectors: np.ndarray) -> "VideoClusterer":
        """More than `large` videos: MiniBatchKMeans on a PCA projection, never a second full copy (scale.py)."""
        self.mean_ = library_mean(vectors)
        if self.n_clusters is None:
            found = scale.groups(vectors, self.mean_, self.max_distance, self.min_size, self.random_state)
            labels = self._from_groups(found, len(vectors))
        else:
            k = min(self.n_clusters, len(vectors))
            self.choice_ = f"{k} clusters, as asked"
            labels = scale.kmeans_labels(vectors, self.mean_, k, self.random_state)
        self.choice_ += f" (over {self.large:,} videos: MiniBatchKMeans on a PCA projection)"
        self.labels_ = self._canonical(labels)
        self.n_clusters_ = int(self.labels_.max() + 1) if self.labels_.max() >= 0 else 0
        self.centroids_ = scale.unit_centroids(vectors, self.mean_, self.labels_, self.n_clusters_)
        self._note_singletons()
        return self

    def _kmeans(self, x: np.ndarray) -> np.ndarray:
        from sklearn.cluster import KMeans

        n = len(x)
        k = min(self.n_clusters, n)
        self.choice_ = f"{k} clusters, as asked"
        if self.n_clusters > n:
            self.warnings_.append(f"Asked for {self.n_clusters} clusters, but there are only {n} videos; making {n} "
                                  "clusters, one per video.")
            self.choice_ = f"{k} clusters, one per video"
        if k <= 1:
            return np.zeros(n, dtype=int)
        return KMeans(k, n_init=10, random_state=self.random_state).fit_predict(x)

    def _auto(self, x: np.ndarray) -> np.ndarray:
        from organizer.grouping.growth import groups

        return self._from_groups(groups(x, self.max_distance, self.min_size), len(x))

    def _from_groups(self, found: list[list[int]], n: int) -> np.ndarray:
        """Labels from distance groups (the largest `ceiling` of them), and the sentence saying how k was chosen."""
        capped = self.ceiling is not None and len(found) > self.ceiling
        found = found[:self.ceiling] if capped else found
        labels = np.full(n, -1)
        for label, members in enumerate(found):
            labels[members] = label
        loners = int((labels < 0).sum())
        self.choice_ = (f"auto found {len(found)} group{'s' if len(found) != 1 else ''} of videos within "
                        f"{self.max_distance:g} of their group's centre" + (
                            f" (the {self.ceiling} largest kept)" if capped else "") + (
                            f"; {loners} video{'s' if loners != 1 else ''} fit no group and wait in _unsorted"
                            if loners else ""))
        return labels

    def _note_singletons(self) -> None:
        counts = np.bincount(self.labels_[self.labels_ >= 0]) if len(self.labels_) else np.zeros(0)
        single = int((counts == 1).sum())
        if self.n_clusters_ > 2 and single * 2 > self.n_clusters_:
            self.warnings_.append(f"{single} of the {self.n_clusters_} clusters hold a single video (--clusters "
                                  "auto keeps only groups, and puts the others in _unsorted).")

    @staticmethod
    def _canonical(labels: np.ndarray) -> np.ndarray:
        """Number clusters by size (largest first), ties by first member: the same input gives the same names.
        -1 (no group) stays -1."""
        labels = np.asarray(labels, dtype=int)
        if not len(labels):
            return labels
        found, first, counts = np.unique(labels, return_index=True, return_counts=True)
        keep = found >= 0
        order = found[keep][np.lexsort((first[keep], -counts[keep]))]
        mapping = np.full(int(labels.max()) + 2, -1)
        mapping[order + 1] = np.arange(len(order))
        return mapping[labels + 1]
