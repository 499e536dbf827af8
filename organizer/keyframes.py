"""Keyframes inside one video: quality gates, adaptive clustering, one sharp frame per picture, no repeats.

Feature distances differ by orders of magnitude between models (random-weight InceptionV3 vs MobileNet), so
the number of pictures is chosen with scale-free silhouette scores on features, and "the same picture" is decided
with model-independent pixel checks (a small thumbnail and an 8x8x8 colour histogram).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .kmeans import kmeans, silhouette

THUMB = 32           # side of the grey/colour thumbnails used for pixel comparisons
SAME_PICTURE_MAD = 0.06   # mean absolute thumbnail difference (0-1) under which two frames show one picture
SIMILAR_CONTENT_MAD = 0.12   # looser: frames this close show the same content, perhaps blurred


def l2n(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


@dataclass
class FrameQuality:
    sharpness: np.ndarray      # variance of the Laplacian on a 240-px-high grey image
    luminance: np.ndarray      # mean luma 0-255
    color_bins: np.ndarray     # occupied bins of an 8x8x8 colour histogram
    hists: np.ndarray          # normalised colour histograms (n, 512)
    thumbs: np.ndarray         # (n, THUMB*THUMB*3) floats in 0-1
    mad: np.ndarray            # (n, n) mean absolute thumbnail difference of every pair


def measure(frames: list[np.ndarray]) -> FrameQuality:
    sharp, luma, bins, hists, thumbs = [], [], [], [], []
    for rgb in frames:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        g240 = cv2.resize(grey, (max(1, round(w * 240 / h)), 240), interpolation=cv2.INTER_AREA)
        sharp.append(float(cv2.Laplacian(g240, cv2.CV_64F).var()))
        luma.append(float(grey.mean()))
        small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
        q = (small // 32).reshape(-1, 3).astype(np.int32)
        hist = np.bincount(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], minlength=512).astype(np.float32)
        bins.append(int((hist >= 0.002 * len(q)).sum()))
        hists.append(hist / hist.sum())
        thumbs.append(cv2.resize(rgb, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() / 255)
    thumbs_arr = np.array(thumbs)
    return FrameQuality(np.array(sharp), np.array(luma), np.array(bins), np.array(hists), thumbs_arr,
                        pairwise_mad(thumbs_arr))


def pairwise_mad(thumbs: np.ndarray) -> np.ndarray:
    """Mean absolute thumbnail difference of every pair, a row at a time (memory O(n*d), not O(n*n*d))."""
    return np.stack([np.abs(thumbs - row).mean(1) for row in thumbs]) if len(thumbs) else np.zeros((0, 0))


def hist_corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / denom) if denom > 0 else 1.0


def transition_frames(thumbs: np.ndarray, max_residual: float) -> np.ndarray:
    """Frames that look like a blend of their two neighbours (fades, dissolves) while the neighbours differ."""
    n = len(thumbs)
    flags = np.zeros(n, dtype=bool)
    if max_residual <= 0:
        return flags
    for i in range(1, n - 1):
        prev, cur, nxt = thumbs[i - 1], thumbs[i], thumbs[i + 1]
        span = prev - nxt
        span_norm = float(np.linalg.norm(span))
        if np.abs(span).mean() < 0.08:      # neighbours alike: nothing to transition between
            continue
        alpha = float(np.clip((cur - nxt) @ span / (span_norm ** 2), 0, 1))
        residual = float(np.linalg.norm(cur - (alpha * prev + (1 - alpha) * nxt))) / span_norm
        away = min(np.linalg.norm(cur - prev), np.linalg.norm(cur - nxt)) / span_norm
        flags[i] = 0.15 < alpha < 0.85 and residual < max_residual and away > 0.25
    return flags


class KeyframeSelector:
    """Pick one good frame per distinct picture. Shaped like a scikit-learn estimator: fit() returns self."""

    def __init__(self, blur_ratio=0.35, dark_max=18.0, bright_min=245.0, min_color_bins=10,
                 transition_residual=0.35, min_silhouette=0.12, max_keyframes=24, redundant_cosine=0.92,
                 redundant_hist=0.90, random_state=0):
        self.blur_ratio = blur_ratio
        self.dark_max = dark_max
        self.bright_min = bright_min
        self.min_color_bins = min_color_bins
        self.transition_residual = transition_residual
        self.min_silhouette = min_silhouette
        self.max_keyframes = max_keyframes
        self.redundant_cosine = redundant_cosine
        self.redundant_hist = redundant_hist
        self.random_state = random_state

    # -- gates ---------------------------------------------------------------------------------------------
    def _gates(self, q: FrameQuality) -> tuple[np.ndarray, dict[str, int]]:
        n = len(q.sharpness)
        dark = q.luminance <= self.dark_max
        bright = q.luminance >= self.bright_min
        blank = q.color_bins <= self.min_color_bins
        transition = transition_frames(q.thumbs, self.transition_residual)
        # Blur is relative to the sharpest frame of similar content: a plain scene is not a blurred one.
        similar = q.mad <= SIMILAR_CONTENT_MAD
        reference = np.where(similar, q.sharpness[None, :], 0).max(1)
        blurred = q.sharpness < self.blur_ratio * reference
        keep = np.ones(n, dtype=bool)
        dropped: dict[str, int] = {}
        for name, mask in (("dark", dark), ("bright", bright), ("blank", blank), ("transition", transition),
                           ("blurred", blurred)):
            hit = keep & mask
            if hit.any():
                dropped[name] = int(hit.sum())
            keep &= ~mask
        if not keep.any():   # every frame failed: keep the best rather than none
            score = q.sharpness * (1 + q.color_bins) * np.where(dark | bright, 0.01, 1)
            keep[int(np.argmax(score))] = True
            dropped["kept_best_of_bad"] = 1
        return keep, dropped

    def _same_picture(self, q: FrameQuality, i: int, j: int, feats: np.ndarray) -> bool:
        if hist_corr(q.hists[i], q.hists[j]) < self.redundant_hist:
            return False
        return q.mad[i, j] <= SAME_PICTURE_MAD or float(feats[i] @ feats[j]) >= self.redundant_cosine

    # -- clustering ----------------------------------------------------------------------------------------
    def _choose_labels(self, feats: np.ndarray, q: FrameQuality, idx: np.ndarray) -> tuple[np.ndarray, float]:
        x = feats[idx]
        n = len(x)
        if n < 3:
            if n == 2 and not self._same_picture(q, idx[0], idx[1], feats):
                return np.array([0, 1]), 1.0
            return np.zeros(n, dtype=int), 0.0
        # One picture when every frame matches the medoid pixel-wise.
        mad = q.mad[np.ix_(idx, idx)]
        mads = mad[int(np.argmin(mad.sum(1)))]
        if mads.max() <= SAME_PICTURE_MAD:
            return np.zeros(n, dtype=int), 0.0
        # Frames that reused a neighbour's features (the pre-filter) are exact duplicates: k beyond the number of
        # distinct rows cannot form clusters.
        distinct = len(np.unique(x, axis=0))
        if distinct < 2:
            return np.zeros(n, dtype=int), 0.0
        k_max = min(n - 1, distinct, self.max_keyframes, max(2, 2 * math.isqrt(n)))
        best_labels, best_score = np.zeros(n, dtype=int), -1.0
        for k in range(2, k_max + 1):
            labels = kmeans(x, k, n_init=3, seed=self.random_state)
            if len(set(labels.tolist())) < 2:
                continue
            score = silhouette(x, labels)
            if score > best_score + 1e-6:
                best_labels, best_score = labels, score
        if best_score < self.min_silhouette:
            return np.zeros(n, dtype=int), best_score
        return best_labels, best_score

    def fit(self, features: np.ndarray, frames: list[np.ndarray], times: list[float] | None = None
            ) -> "KeyframeSelector":
        n = len(frames)
        times = list(times) if times is not None else list(range(n))
        q = measure(frames)
        self.quality_ = q
        feats = l2n(features)
        keep, self.dropped_ = self._gates(q)
        idx = np.flatnonzero(keep)
        labels, self.silhouette_ = self._choose_labels(feats, q, idx)
        chosen = []
        for label in sorted(set(labels)):
            members = idx[labels == label]
            centre = l2n(feats[members].mean(0))
            dist = 1 - feats[members] @ centre
            # The sharpest among the frames close to the centre (the nearer half), not simply the nearest.
            near = members[dist <= np.quantile(dist, 0.5) + 1e-9]
            chosen.append(int(near[np.argmax(q.sharpness[near])]))
        chosen.sort(key=lambda i: times[i])
        kept: list[int] = []
        for i in chosen:   # redundancy elimination in time order
            if any(self._same_picture(q, i, j, feats) for j in kept):
                self.dropped_["redundant"] = self.dropped_.get("redundant", 0) + 1
                continue
            kept.append(i)
        self.keyframe_indices_ = kept[: self.max_keyframes]
        self.n_keyframes_ = len(self.keyframe_indices_)
        self.vector_ = l2n(feats[self.keyframe_indices_].mean(0))
        return self
