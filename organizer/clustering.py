"""Cluster video vectors across the library, and name the clusters."""

from __future__ import annotations

import logging
import re
import unicodedata

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from .keyframes import l2n

log = logging.getLogger(__name__)


def prepare(vectors: np.ndarray) -> np.ndarray:
    """Mean-centre across the library, then L2-normalise: raw CNN features share a large common component."""
    x = l2n(vectors)
    if len(x) > 1:
        x = l2n(x - x.mean(0))
    return x


class VideoClusterer:
    """KMeans over prepared video vectors; n_clusters=None picks k by silhouette. fit() returns self."""

    def __init__(self, n_clusters: int | None = None, random_state: int = 0, max_auto: int = 50):
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.max_auto = max_auto

    def fit(self, vectors: np.ndarray) -> "VideoClusterer":
        x = prepare(vectors)
        n = len(x)
        self.warning_ = None
        if self.n_clusters is not None and self.n_clusters > n:
            self.warning_ = (f"Asked for {self.n_clusters} clusters but only {n} video(s) could be processed; "
                             f"using {n} clusters.")
        if self.n_clusters is not None:
            k = min(self.n_clusters, n)
            self.scores_ = {}
        else:
            k, self.scores_ = self._auto(x)
        if k <= 1 or n <= 1:
            labels = np.zeros(n, dtype=int)
        else:
            labels = KMeans(k, n_init=10, random_state=self.random_state).fit_predict(x)
        self.labels_ = self._canonical(labels)
        self.n_clusters_ = int(self.labels_.max() + 1) if n else 0
        self.centroids_ = np.stack([l2n(x[self.labels_ == c].mean(0)) for c in range(self.n_clusters_)]) if n else x
        return self

    def _auto(self, x: np.ndarray) -> tuple[int, dict[int, float]]:
        n = len(x)
        if n < 3:
            return n, {}
        scores = {}
        for k in range(2, min(n - 1, self.max_auto) + 1):
            labels = KMeans(k, n_init=4, random_state=self.random_state).fit_predict(x)
            if len(set(labels)) > 1:
                scores[k] = float(silhouette_score(x, labels))
        if not scores:
            return 1, scores
        return max(scores, key=lambda k: (round(scores[k], 6), -k)), scores

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
                  naming: str = "labels", words: int = 2, max_len: int = 48) -> list[str]:
    """Folder name per cluster: 'NN-word-word' from the most characteristic classes, or 'cluster-NN'."""
    k = int(labels.max() + 1) if len(labels) else 0
    width = max(2, len(str(k)))
    usable = (naming == "labels" and class_names and class_scores is not None
              and all(s is not None for s in class_scores) and len(class_scores) == len(labels))
    if not usable:
        return [f"cluster-{c + 1:0{width}d}" for c in range(k)]
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
        name = f"{c + 1:0{width}d}-" + "-".join(picked) if picked else f"cluster-{c + 1:0{width}d}"
        name = name[:max_len].strip("-")
        if name in used or name.split("-")[0] in _WINDOWS_RESERVED:
            name = f"cluster-{c + 1:0{width}d}"
        used.add(name)
        names.append(name)
    return names
