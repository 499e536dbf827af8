"""Frame sampling. OpenCV first; PyAV (FFmpeg) for what OpenCV cannot open or decode.

Media are opened by a path that is always valid (/proc/self/fd/N of a descriptor we opened without following
links or blocking), never by their own name: FFmpeg inside OpenCV crashes on names that are not UTF-8, and a FIFO
swapped in after the scan must be refused, not waited on. Decoding runs in worker processes (engine.py), where a
crash costs one file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

# FFmpeg inside OpenCV prints to stderr for every broken file; our own messages say it better.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402

try:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
except AttributeError:   # older OpenCV builds without the logging utilities
    pass
import numpy as np

from .errors import VideoUnreadable
from .images import scale_to
from .types import SampledFrames

log = logging.getLogger(__name__)

WORK_SIDE = 320  # frames are kept with their shorter side at most this long: enough for 299 px models and gates

# Counts decoded videos in this process (tests use it to prove the parent decodes nothing).
DECODE_COUNTER = {"videos": 0, "seeks": 0}
PROC_FD = "/proc/self/fd"


@contextlib.contextmanager
def media_path(path: str | os.PathLike) -> Iterator[str]:
    """A path FFmpeg can always open for this file, valid inside the `with`: raises VideoUnreadable for what is
    not a regular, non-empty file (a FIFO, socket, device, link, or a name that vanished)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise VideoUnreadable("is a symbolic link; links are never followed") from None
        raise VideoUnreadable(f"cannot be read ({exc.strerror}); check that it exists and its permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise VideoUnreadable("is not a regular file (a FIFO, socket or device); it was not read")
        if st.st_size == 0:
            raise VideoUnreadable("is empty (0 bytes); it may be an interrupted download")
        if os.path.isdir(PROC_FD):
            yield f"{PROC_FD}/{fd}"
            return
        folder = tempfile.mkdtemp(prefix="organize-media-")      # no /proc: a link with a safe name instead
        try:
            link = os.path.join(folder, "media" + os.path.splitext(os.fsdecode(path))[1].encode(
                "ascii", "replace").decode("ascii").replace("?", "_"))
            os.symlink(os.path.abspath(path), link)
            yield link
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)


def sample_times(duration: float, fps: float, max_frames: int, min_frames: int) -> list[float]:
    """Evenly spread sample times: `fps` per second, clamped to [min_frames, max_frames], centred in their slots."""
    if duration <= 0:
        return [0.0]
    n = max(1, math.floor(duration * fps + 1e-9))
    n = min(max(n, min_frames), max_frames)
    step = duration / n
    return [(i + 0.5) * step for i in range(n)]


def scale_to_work(frame: np.ndarray, side: int | None = WORK_SIDE) -> np.ndarray:
    """Shrink so the shorter side is at most `side`, keeping the aspect ratio."""
    return scale_to(frame, side)


Picker = Callable[[float, float, int], list[int]]   # (duration, fps, frame_count) -> frame numbers wanted


def _picker_for_times(fps_sample: float, max_frames: int, min_frames: int) -> Picker:
    def pick(duration: float, fps: float, count: int) -> list[int]:
        times = sample_times(duration, fps_sample, max_frames, min_frames)
        last = max(count - 1, 0)
        return sorted({min(last, int(t * fps)) for t in times})
    return pick


SEEK_SECONDS = 5.0   # seek, rather than grab every frame, when the next sample is at least this far ahead


def _decode_opencv(path: Path, pick: Picker, side: int | None, seek_seconds: float = SEEK_SECONDS
                   ) -> SampledFrames | None:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            return None
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if fps <= 0 or fps > 1000 or count <= 0:
            return None  # without a frame rate and length we cannot spread samples; let PyAV measure it
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        duration = count / fps
        wanted = pick(duration, fps, count)
        wanted_set, last = set(wanted), wanted[-1]
        frames, times, indices = [], [], []
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
                        DECODE_COUNTER["seeks"] += 1
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
                    frames.append(scale_to_work(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), side))
                    times.append(index / fps)
                    indices.append(index)
            index += 1
        if not frames:
            return None
        if index < count * 0.9 and index <= last:
            duration = index / fps  # the header over-promised; trust what decoded
        return SampledFrames(tuple(frames), tuple(times), tuple(indices), duration, fps, width, height, "opencv")
    finally:
        cap.release()


def _decode_pyav(path: Path, pick: Picker, side: int | None) -> SampledFrames:
    import av  # imported lazily: only needed for files OpenCV cannot read

    try:
        container = av.open(str(path))
    except Exception as exc:  # av raises many types (InvalidDataError, OSError, ...)
        raise VideoUnreadable(f"cannot be opened as a video ({_short(exc)}); it may be truncated, "
                              "empty or not a video at all") from None
    with container:
        if not container.streams.video:
            raise VideoUnreadable("has no video stream; it may be an audio file or damaged")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        count = stream.frames or max(1, round(duration * fps))
        wanted = pick(duration, fps, count)
        wanted_set, last = set(wanted), wanted[-1]
        frames, times, indices = [], [], []
        width = height = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index > last:
                    break
                width, height = frame.width, frame.height
                if index in wanted_set:
                    rgb = frame.to_ndarray(format="rgb24")
                    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
                    if rotation:
                        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
                    frames.append(scale_to_work(rgb, side))
                    times.append(float(frame.time) if frame.time is not None else index / fps)
                    indices.append(index)
        except Exception as exc:
            if not frames:
                raise VideoUnreadable(f"cannot be decoded ({_short(exc)}); the file may be truncated or "
                                      "damaged") from None
            log.warning("%s: decoding stopped early (%s); using the %d frames read", path, _short(exc), len(frames))
        if not frames:
            raise VideoUnreadable("contains no decodable video frames; it may be empty or truncated")
        return SampledFrames(tuple(frames), tuple(times), tuple(indices), duration or (indices[-1] + 1) / fps,
                             fps, width, height, "pyav")


def _short(exc: Exception) -> str:
    if getattr(exc, "strerror", None):
        return str(exc.strerror)[:160]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _decode(path: Path, pick: Picker, side: int | None, seek_seconds: float = SEEK_SECONDS) -> SampledFrames:
    with media_path(path) as safe:
        DECODE_COUNTER["videos"] += 1
        sampled = None
        try:
            sampled = _decode_opencv(safe, pick, side, seek_seconds)
        except cv2.error as exc:
            log.debug("OpenCV failed on %s: %s", path, exc)
        if sampled is None:
            sampled = _decode_pyav(safe, pick, side)
        return sampled


def sample_video(path: Path, fps: float = 1.0, max_frames: int = 64, min_frames: int = 3,
                 side: int | None = WORK_SIDE, seek_seconds: float = SEEK_SECONDS) -> SampledFrames:
    """Sample frames evenly over the whole video; raises VideoUnreadable with a reason.

    Unsampled frames are grabbed without colour conversion; where the next sample is seek_seconds or more ahead,
    OpenCV seeks instead (0 never seeks)."""
    return _decode(path, _picker_for_times(fps, max_frames, min_frames), side, seek_seconds)


def frames_at(path: Path, frame_numbers: list[int], side: int | None = None) -> SampledFrames:
    """Decode specific frames (full resolution by default), e.g. to export keyframes as images."""
    wanted = sorted(set(frame_numbers))
    return _decode(path, lambda duration, fps, count: [min(n, max(count - 1, 0)) for n in wanted], side)
