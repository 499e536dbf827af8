"""Decoding with OpenCV's FFmpeg backend: the fallback for files PyAV cannot open.

Unsampled frames are grabbed without colour conversion; where the next sample is far ahead it seeks. It makes a
full-size frame before scaling, which the pixel limit (checked from the header first) keeps bounded.
"""

from __future__ import annotations

import logging

import cv2

from organizer.analysis.decode_av import check_pixels
from organizer.analysis.images import scale_to
from organizer.types import SampledFrames

log = logging.getLogger(__name__)


def decode(path: str, pick, side: int | None, seek_seconds: float, max_pixels: int) -> SampledFrames | None:
    """Decode the frames `pick` asks for, or None when OpenCV cannot open the file or measure it."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            return None
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if fps <= 0 or fps > 1000 or count <= 0:
            return None  # without a frame rate and length we cannot spread samples
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        check_pixels(width, height, max_pixels)
        duration = count / fps
        wanted = pick(duration, fps, count)
        wanted_set, last = set(wanted), wanted[-1]
        frames, times, indices, seeks = [], [], [], 0
        index = 0
        upcoming = iter(wanted)
        target = next(upcoming, None)
        seek_gap = seek_seconds * fps if seek_seconds > 0 else float("inf")
        while index <= last:
            while target is not None and target < index:
                target = next(upcoming, None)
            if target is not None and target - index >= seek_gap:
                # Far to the next sample: let FFmpeg jump (to the keyframe before it, then decode forward).
                if cap.set(cv2.CAP_PROP_POS_FRAMES, target):
                    pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
                    if index <= pos <= target:
                        index = pos
                        seeks += 1
                    else:          # an inexact seek: open the file again and grab every frame instead
                        log.debug("%s: seeking to frame %d landed on %d; decoding sequentially", path, target, pos)
                        seek_gap = float("inf")
                        cap.release()
                        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
                        index = 0
                        frames, times, indices = [], [], []
            # grab() decodes without the colour conversion; only sampled frames are retrieved.
            if not cap.grab():
                break
            if index in wanted_set:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    frames.append(scale_to(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), side))
                    times.append(index / fps)
                    indices.append(index)
            index += 1
        if not frames:
            return None
        if index < count * 0.9 and index <= last:
            duration = index / fps  # the header over-promised; trust what decoded
        return SampledFrames(tuple(frames), tuple(times), tuple(indices), duration, fps, width, height, "opencv",
                             seeks)
    finally:
        cap.release()
