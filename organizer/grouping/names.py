"""Cluster folder names: 'NN-word-word' from the classes most characteristic of a cluster, or 'cluster-NN'."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from organizer.grouping.scale import LARGE, label_sums
from organizer.layout import free_name


def next_number(names: list[str]) -> int:
    """The number after the highest 'NN-...' or 'cluster-NN' folder number in use."""
    numbers = [int(m.group(1)) for n in names if (m := re.match(r"(?:cluster-)?(\d+)", n))]
    return max(numbers, default=0) + 1


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
    sums = label_sums(class_scores, labels, k)          # every video here has a cluster: they add up to the total
    counts = np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    return (sums / counts).astype(np.float32), (sums.sum(0) / len(labels)).astype(np.float32)


def _free(name: str, taken: set[str]) -> str:
    """name, or name-2, name-3, ... when a folder of that name is already in use."""
    candidate = free_name(name, lambda n: f"{name}-{n}", taken.__contains__)
    taken.add(candidate)
    return candidate
