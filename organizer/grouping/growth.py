"""How a library grows night by night (pure, like placement.py): groups of new videos that no cluster describes
become new clusters, and a check of whether the clusters still fit the videos they hold.

_unsorted is a waiting room: its videos are looked at again every run with the new ones. Among the videos that no
existing cluster takes (farther than the assignment distance from every centroid), groups whose members are all
within that same distance of their group's centre, of at least `min_size` videos, open new clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from organizer.grouping.space import match_clusters
from organizer.vectors import l2n

DRIFT_MARGIN = 0.05      # a fresh clustering must beat the folders' silhouette by this much to be suggested


def groups(x: np.ndarray, max_distance: float, min_size: int) -> list[list[int]]:
    """Groups (indices into x, prepared unit vectors) of at least min_size whose members all lie within
    max_distance (cosine) of their group's centre, largest first. Average linkage, cut at max_distance."""
    n = len(x)
    if n < max(min_size, 2):
        return []
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(cosine_condensed(x), method="average")
    labels = fcluster(tree, t=max_distance, criterion="distance")
    found = []
    for members in split_by(labels):
        while len(members) >= min_size:
            inside = x[members]
            near = 1.0 - inside @ l2n(inside.mean(0)) <= max_distance
            if near.all():
                found.append(members.tolist())
                break
            members = members[near]          # the group without its outliers, checked again
    return sorted(found, key=lambda g: (-len(g), g[0]))


def split_by(labels: np.ndarray) -> list[np.ndarray]:
    """The indices of each label's members (ascending), labels in ascending order: one sort, not a pass per label."""
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(labels[order])) + 1) if len(order) else []


def cosine_condensed(x: np.ndarray) -> np.ndarray:
    """Pairwise cosine distances in scipy's condensed order: one matrix product up to a few thousand vectors
    (scipy's own loop is an order of magnitude slower), scipy's pdist beyond (the square would not fit)."""
    if len(x) > 4096:
        from scipy.spatial.distance import pdist
        return pdist(x.astype(np.float64), "cosine")
    unit = l2n(x).astype(np.float64)
    upper = np.triu_indices(len(unit), 1)
    return np.clip(1.0 - (unit @ unit.T)[upper], 0.0, 2.0)


@dataclass(frozen=True)
class Drift:
    """How well the folders fit the videos (silhouette of the folders) against a fresh clustering at the same k."""

    current: float
    fresh: float
    moves: int            # files --recluster would move (after matching new clusters to the folders)
    videos: int

    @property
    def suggested(self) -> bool:
        return self.fresh - self.current > DRIFT_MARGIN

    clusters: int = 0     # the k both were measured at: the suggestion names exactly that command

    def sentence(self) -> str:
        return (f"The clusters fit their videos less well than a fresh clustering into as many clusters would "
                f"(silhouette {self.current:.2f} against {self.fresh:.2f}): --recluster --clusters {self.clusters} "
                f"would regroup the library into {self.clusters} clusters, moving {self.moves} of {self.videos} "
                "videos (measured, not guessed).")


def drift(x: np.ndarray, folders: list[str], seed: int = 0) -> Drift | None:
    """Compare the folders' silhouette with KMeans at the same number of clusters; None when there is too little
    to compare (fewer than 2 clusters, or a cluster count as large as the videos)."""
    names = sorted(set(folders))
    k = len(names)
    if k < 2 or len(x) <= k + 1:
        return None
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score


    current = np.array([names.index(f) for f in folders])
    many = k > 100       # k-means++ over hundreds of centres costs more than the check is worth: one random start
    fresh = KMeans(k, n_init=1 if many else 4, init="random" if many else "k-means++",
                   random_state=seed).fit_predict(x)
    if len(set(fresh.tolist())) < 2:
        return None
    centroids = np.stack([l2n(x[fresh == c].mean(0)) for c in range(k)])
    mapping = match_clusters(fresh, folders, centroids, names, None)
    moves = sum(mapping.get(int(c)) != f for c, f in zip(fresh, folders))
    return Drift(float(silhouette_score(x, current)), float(silhouette_score(x, fresh)), int(moves), len(x), k)
