"""Clustering a large library: past LARGE videos, KMeans and average linkage over every vector become the
bottleneck (KMeans' time, linkage's n^2 memory), so the clusterer switches to:

- the vectors prepared chunk by chunk (never a second full copy), projected by a PCA fitted on a sample to
  COMPONENTS dimensions;
- MiniBatchKMeans on the projection for `--clusters N`;
- for `auto`, MiniBatchKMeans into MICRO small clusters, then the same distance groups as a small library (average
  linkage cut at max_distance) over their centres: each such candidate's videos are then grouped by the exact rule
  (or, for a candidate over LARGE videos, checked against its centre);
- centroids, means and samples computed in chunks in the original space, so stored clusters stay comparable with
  the ones a small library gets.

Below LARGE none of this runs: small libraries keep exact KMeans and linkage.
"""

from __future__ import annotations

import numpy as np

from organizer.grouping.space import prepare, rows, slices
from organizer.vectors import l2n

LARGE = 20_000          # videos above which clustering uses this module
COMPONENTS = 128        # PCA dimensions for MiniBatchKMeans
PCA_SAMPLE = 50_000     # rows the PCA is fitted on
MICRO = 4_000           # small clusters whose centres auto's linkage groups
SAMPLE = 5_000          # videos a drift check compares (seeded sample)


def sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of `size` out of n (all of them when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def project(vectors, mean: np.ndarray, seed: int) -> np.ndarray:
    """The prepared vectors projected to COMPONENTS dimensions (PCA fitted on a sample), float32."""
    from sklearn.decomposition import PCA

    n = len(vectors)
    fit_on = prepare(rows(vectors, sample(n, PCA_SAMPLE, seed)), mean)
    pca = PCA(min(COMPONENTS, fit_on.shape[1], len(fit_on) - 1), svd_solver="randomized", random_state=seed)
    pca.fit(fit_on)
    z = np.empty((n, pca.n_components_), np.float32)
    for part in slices(n):
        z[part] = pca.transform(prepare(rows(vectors, part), mean))
    return z


def minibatch(z: np.ndarray, k: int, seed: int, rough: bool = False) -> np.ndarray:
    """MiniBatchKMeans labels; `rough` (auto's small clusters, whose only job is to be tight): random seeding and
    one start, as k-means++ over thousands of centres would cost more than the clustering."""
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(k, batch_size=max(4096, 4 * k), n_init=1 if rough else 3, max_no_improvement=20,
                         init="random" if rough else "k-means++", random_state=seed)
    return km.fit(z).labels_.astype(int)


def label_sums(vectors, labels: np.ndarray, k: int, mean: np.ndarray | None = None) -> np.ndarray:
    """Per label (k rows, float64), the sum of its rows, a chunk at a time: prepared around `mean` when given, as
    they are otherwise. Rows labelled -1 count nowhere."""
    from scipy.sparse import csr_matrix

    sums = None
    for part in slices(len(labels)):
        lab = labels[part]
        keep = lab >= 0
        onehot = csr_matrix((np.ones(int(keep.sum()), np.float32), (lab[keep], np.flatnonzero(keep))),
                            shape=(k, len(lab)))
        chunk = rows(vectors, part) if mean is None else prepare(rows(vectors, part), mean)
        s = np.asarray(onehot @ chunk, np.float64)
        sums = s if sums is None else sums + s
    return sums


def unit_centroids(vectors, mean: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Each label's centroid (unit length; zero for an empty label) in the prepared space, a chunk at a time."""
    sums = label_sums(vectors, labels, k, mean)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.where(norms > 0, sums / np.clip(norms, 1e-12, None), 0.0).astype(np.float32)


def kmeans_labels(vectors, mean: np.ndarray, k: int, seed: int) -> np.ndarray:
    """`--clusters k` on a large library: MiniBatchKMeans on the PCA projection."""
    return minibatch(project(vectors, mean, seed), k, seed)


def groups(vectors, mean: np.ndarray, max_distance: float, min_size: int, seed: int) -> list[list[int]]:
    """auto on a large library: groups of at least min_size videos within max_distance of their centre, largest
    first, as growth.groups finds them on a small one (here over MICRO small clusters' centres)."""
    from organizer.grouping.growth import groups as linkage_groups, split_by

    n = len(vectors)
    m = max(2, min(MICRO, n // 5))
    micro = minibatch(project(vectors, mean, seed), m, seed, rough=True)
    centres = unit_centroids(vectors, mean, micro, m)
    live = np.flatnonzero(np.bincount(micro, minlength=m) > 0)
    videos_of = split_by(micro)                        # live[i]'s videos are videos_of[i]
    found = []
    for group in linkage_groups(centres[live], max_distance, 1):
        members = np.sort(np.concatenate([videos_of[i] for i in group]))
        if len(members) <= LARGE:     # a candidate of workable size: the exact rule over its videos
            found += [members[g].tolist() for g in linkage_groups(prepare(rows(vectors, members), mean), max_distance,
                                                                  min_size)]
            continue
        for _ in range(5):            # a huge one: without the videos far from its centre, checked again
            near = _near_centre(vectors, members, mean, max_distance)
            members = members[near]
            if near.all() or len(members) < min_size:
                break
        if len(members) >= min_size:
            found.append(members.tolist())
    return sorted(found, key=lambda g: (-len(g), g[0]))


def _near_centre(vectors, members: np.ndarray, mean: np.ndarray, max_distance: float) -> np.ndarray:
    """Which members lie within max_distance of their centre (a chunk at a time: a group may be huge)."""
    total = sum(prepare(rows(vectors, members[part]), mean).sum(0) for part in slices(len(members)))
    centre = l2n(total)
    return np.concatenate([1.0 - prepare(rows(vectors, members[part]), mean) @ centre <= max_distance
                           for part in slices(len(members))])
