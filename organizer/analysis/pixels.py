"""Pixel measurements of sampled frames, for keyframe selection (analysis/keyframes.py): sharpness, brightness,
colour histograms, small thumbnails and how far apart they are. No model: these rules mean the same for every
feature space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

THUMB = 32           # side of the grey/colour thumbnails used for pixel comparisons
SAME_PICTURE_MAD = 0.06   # mean absolute thumbnail difference (0-1) under which two frames show one picture
SIMILAR_CONTENT_MAD = 0.12   # looser: frames this close show the same content, perhaps blurred


@dataclass
class FrameQuality:
    sharpness: np.ndarray      # variance of the Laplacian on a 240-px-high grey image
    luminance: np.ndarray      # mean luma 0-255
    contrast: np.ndarray       # standard deviation of luma 0-255
    color_bins: np.ndarray     # occupied bins of an 8x8x8 colour histogram
    hists: np.ndarray          # normalised colour histograms (n, 512)
    thumbs: np.ndarray         # (n, THUMB*THUMB*3) floats in 0-1
    mad: np.ndarray            # (n, n) mean absolute thumbnail difference of every pair


def measure(frames: list[np.ndarray]) -> FrameQuality:
    sharp, luma, contrast, bins, hists, thumbs = [], [], [], [], [], []
    for rgb in frames:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        g240 = cv2.resize(grey, (max(1, round(w * 240 / h)), 240), interpolation=cv2.INTER_AREA)
        sharp.append(float(cv2.Laplacian(g240, cv2.CV_64F).var()))
        luma.append(float(grey.mean()))
        contrast.append(float(grey.std()))
        small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
        q = (small // 32).reshape(-1, 3).astype(np.int32)
        hist = np.bincount(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], minlength=512).astype(np.float32)
        bins.append(int((hist >= 0.002 * len(q)).sum()))
        hists.append(hist / hist.sum())
        thumbs.append(cv2.resize(rgb, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() / 255)
    thumbs_arr = np.array(thumbs)
    return FrameQuality(np.array(sharp), np.array(luma), np.array(contrast), np.array(bins), np.array(hists), thumbs_arr,
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
