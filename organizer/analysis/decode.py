"""Frame sampling: PyAV (FFmpeg) first, scaling inside the decoder; OpenCV for what PyAV cannot open.

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
from typing import Callable, Iterator

# FFmpeg inside OpenCV prints to stderr for every broken file; our own messages say it better.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402

try:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
except AttributeError:   # older OpenCV builds without the logging utilities
    pass

from organizer.analysis import decode_av, decode_cv  # noqa: E402
from organizer.errors import VideoUnreadable  # noqa: E402
from organizer.types import SampledFrames  # noqa: E402

log = logging.getLogger(__name__)

WORK_SIDE = 320  # frames are kept with their shorter side at most this long: enough for 299 px models and gates
SEEK_SECONDS = 5.0   # seek, rather than decode every frame, when the next sample is at least this far ahead
MAX_PIXELS = 40_000_000   # frames larger than this are refused (8K UHD is 33 megapixels)

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


Picker = Callable[[float, float, int], list[int]]   # (duration, fps, frame_count) -> frame numbers wanted


def _picker_for_times(fps_sample: float, max_frames: int, min_frames: int) -> Picker:
    def pick(duration: float, fps: float, count: int) -> list[int]:
        times = sample_times(duration, fps_sample, max_frames, min_frames)
        last = max(count - 1, 0)
        return sorted({min(last, int(t * fps)) for t in times})
    return pick


def _decode(path, pick: Picker, side: int | None, seek_seconds: float = SEEK_SECONDS,
            max_pixels: int = MAX_PIXELS, all_frames: bool = True) -> SampledFrames:
    with media_path(path) as safe:
        try:
            return decode_av.decode(safe, pick, side, seek_seconds, max_pixels, all_frames)
        except VideoUnreadable as first:
            if "megapixels" in str(first):
                raise
            try:
                sampled = decode_cv.decode(safe, pick, side, seek_seconds, max_pixels)
            except cv2.error as exc:
                log.debug("OpenCV failed on %s too: %s", path, exc)
                sampled = None
            if sampled is None:
                raise first from None
            return sampled


def sample_video(path, fps: float = 1.0, max_frames: int = 64, min_frames: int = 3, side: int | None = WORK_SIDE,
                 seek_seconds: float = SEEK_SECONDS, max_pixels: int = MAX_PIXELS, all_frames: bool = True
                 ) -> SampledFrames:
    """Sample frames evenly over the whole video; raises VideoUnreadable with a reason. Where the next sample is
    seek_seconds or more ahead the decoder seeks (0 never seeks). all_frames=False skips non-reference frames
    (decode_av.decode)."""
    return _decode(path, _picker_for_times(fps, max_frames, min_frames), side, seek_seconds, max_pixels,
                   all_frames)


def frames_at(path, frame_numbers: list[int], side: int | None = None) -> SampledFrames:
    """Decode specific frames (full resolution by default), e.g. to export keyframes as images."""
    wanted = sorted(set(frame_numbers))
    return _decode(path, lambda duration, fps, count: [min(n, max(count - 1, 0)) for n in wanted], side)
