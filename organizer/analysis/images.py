"""Images as the cache, the report and the keyframe export need them: JPEG bytes, thumbnails, data URIs."""

from __future__ import annotations

import base64

import cv2
import numpy as np

THUMB_SIDE = 90          # keyframe thumbnails (cache, report): shorter side in pixels


def scale_to(frame: np.ndarray, side: int | None) -> np.ndarray:
    """Shrink so the shorter side is at most `side`, keeping the aspect ratio (None: unchanged)."""
    h, w = frame.shape[:2]
    if side is None or min(h, w) <= side:
        return frame
    f = side / min(h, w)
    return cv2.resize(frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """An RGB uint8 image as JPEG bytes."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return data.tobytes()


def thumbnail_jpeg(rgb: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    return encode_jpeg(scale_to(rgb, side))


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
