"""Cluster video vectors across the library, and name the clusters."""

from __future__ import annotations

import logging
import re
import unicodedata

import numpy as np

# scikit-learn is imported where it is used: importing it costs ~1.7 s, and a nightly run with nothing new
# never clusters.

from organizer.vectors import l2n
from organizer.grouping.scale import LARGE, unit_sum

log = logging.getLogger(__name__)


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


def next_number(names: list[str]) -> int:
    """The number after the highest 'NN-...' or 'cluster-NN' folder number in use."""
    numbers = [int(m.group(1)) for n in names if (m := re.match(r"(?:cluster-)?(\d+)", n))]
    return max(numbers, default=0) + 1


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
                 min_size: int = 2, ceiling: int | None = None, large: int = LARGE):
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
        from organizer.grouping import scale

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


_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_word(text: str, max_len: int = 24) -> str:
    """Lowercase ASCII letters/digits and hyphens only: safe on every filesystem."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    word = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return word[:max_len].strip("-")


def cluster_names(labels: np.ndarray, class_scores: list[np.ndarray | None] | None, class_names: list[str] | None,
                  naming: str = "labels", words: int = 2, max_len: int = 48, numbers: list[int] | None = None,
                  taken: set[str] | None = None) -> list[str]:
    """Folder name per cluster: 'NN-word-word' from the most characteristic classes, or 'cluster-NN'.

    `numbers` gives each cluster's NN (default 1..k); names in `taken` are never produced.
    """
    k = int(labels.max() + 1) if len(labels) else 0
    numbers = numbers or list(range(1, k + 1))
    width = max(2, len(str(max(numbers, default=k))))
    taken = set(taken or ())
    if not (naming == "labels" and class_names and class_scores is not None
            and all(s is not None for s in class_scores) and len(class_scores) == len(labels)):
        return [_free(f"cluster-{numbers[c]:0{width}d}", taken) for c in range(k)]
    means, overall = _class_means(class_scores, labels, k)
    names, used = [], set()
    for c in range(k):
        mean = means[c]
        # Characteristic: strong in this cluster and stronger here than in the library as a whole.
        lift = mean * np.log((mean + 1e-6) / (overall + 1e-6)) if k > 1 else mean
        picked: list[str] = []
        for idx in np.argsort(-lift):
            word = safe_word(class_names[idx].split(",")[0].split()[-1])
            if word and word not in picked and word != "background":
                picked.append(word)
            if len(picked) == words:
                break
        number = numbers[c]
        name = f"{number:0{width}d}-" + "-".join(picked) if picked else f"cluster-{number:0{width}d}"
        name = name[:max_len].strip("-")
        if name in used or name in taken or name.split("-")[0] in _WINDOWS_RESERVED:
            name = f"cluster-{number:0{width}d}"
        name = _free(name, taken | used)
        used.add(name)
        names.append(name)
    return names


def _class_means(class_scores: list[np.ndarray], labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's mean class scores and the library's; past scale.LARGE videos a chunk at a time (a million
    videos' scores stacked would take 4 GB)."""
    if len(labels) <= LARGE:
        scores = np.stack(class_scores)
        return np.stack([scores[labels == c].mean(0) for c in range(k)]), scores.mean(0)
    from organizer.grouping.scale import label_sums
    sums = label_sums(class_scores, labels, k)          # every video here has a cluster: they add up to the total
    counts = np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    return (sums / counts).astype(np.float32), (sums.sum(0) / len(labels)).astype(np.float32)


def _free(name: str, taken: set[str]) -> str:
    """name, or name-2, name-3, ... when a folder of that name is already in use."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate
