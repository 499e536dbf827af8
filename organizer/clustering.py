"""Cluster video vectors across the library, and name the clusters."""

from __future__ import annotations

import logging
import re
import unicodedata

import numpy as np

# scikit-learn is imported where it is used: importing it costs ~1.7 s, and a nightly run with nothing new
# never clusters.

from .keyframes import l2n

log = logging.getLogger(__name__)


def library_mean(vectors: np.ndarray) -> np.ndarray:
    """The common component of a library's video vectors (the mean of their unit vectors)."""
    return l2n(np.atleast_2d(vectors)).mean(0)


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


TIE = 0.005          # silhouette scores this close to the best are a tie: the smallest such k wins


def silhouettes(x: np.ndarray, ks, seed: int) -> dict[int, tuple[float, int]]:
    """k -> (silhouette score, clusters of one video) of KMeans at each k. One OpenMP/BLAS thread: these small
    fits are all per-call overhead, which more threads only add to (measured: 0.56 s on one thread, 0.83 s on two,
    1.6 s on 16 cores, for 28 values of k over 116 videos)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    scores = {}
    with threadpool_limits(1):
        for k in ks:
            labels = KMeans(k, n_init=4, random_state=seed).fit_predict(x)
            counts = np.bincount(labels)
            if (counts > 0).sum() > 1:
                scores[k] = (float(silhouette_score(x, labels)), int((counts == 1).sum()))
    return scores


def choose_k(scores: dict[int, tuple[float, int]]) -> int:
    """The smallest k whose silhouette ties the best (within TIE) and where at most half the clusters are single
    videos: flat scores no longer drift to many one-video clusters."""
    best = max(s for s, _ in scores.values())
    fair = [k for k, (s, single) in scores.items() if s >= best - TIE and single <= k / 2]
    return min(fair) if fair else max(scores, key=lambda k: scores[k][0])


class VideoClusterer:
    """KMeans over prepared video vectors; n_clusters=None picks k by silhouette. fit() returns self.

    Learned: labels_, centroids_, mean_, n_clusters_, scores_ (k -> silhouette, auto only), choice_ (a sentence on
    how k was chosen), warnings_ (sentences for the user)."""

    def __init__(self, n_clusters: int | None = None, random_state: int = 0, max_auto: int = 50):
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.max_auto = max_auto

    def fit(self, vectors: np.ndarray) -> "VideoClusterer":
        from sklearn.cluster import KMeans

        x = prepare(vectors)
        n = len(x)
        self.warnings_ = []
        if self.n_clusters is not None:
            k = min(self.n_clusters, n)
            self.scores_, self.choice_ = {}, f"{k} clusters, as asked"
            if self.n_clusters > n:
                self.warnings_.append(f"Asked for {self.n_clusters} clusters, but there are only {n} videos; "
                                      f"making {n} clusters, one per video.")
                self.choice_ = f"{k} clusters, one per video"
        else:
            k = self._auto(x)
        labels = np.zeros(n, dtype=int) if k <= 1 or n <= 1 else \
            KMeans(k, n_init=10, random_state=self.random_state).fit_predict(x)
        self.labels_ = self._canonical(labels)
        self.mean_ = library_mean(vectors) if n else None
        self.n_clusters_ = int(self.labels_.max() + 1) if n else 0
        self.centroids_ = np.stack([l2n(x[self.labels_ == c].mean(0)) for c in range(self.n_clusters_)]) if n else x
        self._note_singletons()
        return self

    def _note_singletons(self) -> None:
        single = int((np.bincount(self.labels_) == 1).sum()) if len(self.labels_) else 0
        if self.n_clusters_ > 2 and single * 2 > self.n_clusters_:
            hint = " (--clusters auto may group them better)" if self.n_clusters is not None else ""
            self.warnings_.append(f"{single} of the {self.n_clusters_} clusters hold a single video{hint}.")

    def _auto(self, x: np.ndarray) -> int:
        n = len(x)
        distinct = len(np.unique(np.round(x, 6), axis=0))     # k beyond the distinct videos cannot form clusters
        self.scores_ = {}
        if n < 3 or distinct < 3:
            k = min(n, distinct)
            self.choice_ = f"auto made {k} cluster{'s' if k != 1 else ''} ({n} videos, too few to choose)"
            return k
        ks = range(2, min(n - 1, distinct, self.max_auto) + 1)
        found = silhouettes(x, ks, self.random_state)
        if not found:
            self.choice_ = "auto made 1 cluster (no split scored)"
            return 1
        k = choose_k(found)
        self.scores_ = {k_: s for k_, (s, _) in found.items()}
        best = max(self.scores_, key=self.scores_.get)
        self.choice_ = f"auto chose {k} of {ks.start}-{ks[-1]} by silhouette ({found[k][0]:.3f}" + (
            ", the best score)" if k == best else f"; the fewest clusters within {TIE} of the best score, "
                                                 f"{self.scores_[best]:.3f} at {best})")
        return k

    @staticmethod
    def _canonical(labels: np.ndarray) -> np.ndarray:
        """Number clusters by size (largest first), ties by first member: the same input gives the same names."""
        order = sorted(set(labels.tolist()), key=lambda c: (-(labels == c).sum(), int(np.argmax(labels == c))))
        mapping = {old: new for new, old in enumerate(order)}
        return np.array([mapping[c] for c in labels], dtype=int)


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
    scores = np.stack(class_scores)
    overall = scores.mean(0)
    names, used = [], set()
    for c in range(k):
        mean = scores[labels == c].mean(0)
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


def _free(name: str, taken: set[str]) -> str:
    """name, or name-2, name-3, ... when a folder of that name is already in use."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate
