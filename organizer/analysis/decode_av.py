"""Decoding with PyAV (FFmpeg), the primary decoder.

Each wanted frame is converted by FFmpeg's scaler straight from the decoder's YUV planes to a small RGB image, so
no full-size RGB array is ever made (a 16000x16000 MJPEG frame used to cost 2.7 GB). The frame size is read from
the stream before anything is decoded and refused above the pixel limit. Frames are numbered by their presentation
time, which also holds after a seek: where the next wanted frame is far ahead, the decoder jumps there.
"""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np

from organizer.errors import VideoUnreadable
from organizer.analysis.shots import SignalRecorder, tiny_luma
from organizer.types import SampledFrames

log = logging.getLogger(__name__)

THREADS_ENV = "ORGANIZER_DECODE_THREADS"     # set by the engine for its workers: decoder threads per worker


def short(exc: Exception) -> str:
    if getattr(exc, "strerror", None):
        return str(exc.strerror)[:160]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if max_pixels and width * height > max_pixels:
        raise VideoUnreadable(f"has {width}x{height} frames ({width * height / 1e6:.0f} megapixels), more than the "
                              f"limit of {max_pixels / 1e6:.0f} megapixels (sampling.max_pixels); it was not decoded")


def scaled_size(width: int, height: int, side: int | None) -> tuple[int, int]:
    """(w, h) with the shorter side at most `side`, aspect ratio kept (unchanged when None or smaller)."""
    if side is None or min(width, height) <= side:
        return width, height
    f = side / min(width, height)
    return max(1, round(width * f)), max(1, round(height * f))


def _open(path: str):
    import av

    try:
        container = av.open(path)
    except Exception as exc:  # av raises many types (InvalidDataError, OSError, ...)
        raise VideoUnreadable(f"cannot be opened as a video ({short(exc)}); it may be truncated, empty or not a "
                              "video at all") from None
    if not container.streams.video:
        container.close()
        raise VideoUnreadable("has no video stream; it may be an audio file or damaged")
    return container


def _geometry(container, stream) -> tuple[float, float, int]:
    """(frames per second, duration in seconds, frame count) from the stream's headers."""
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    count = stream.frames or max(1, round(duration * fps))
    return fps, duration, count


def _image(frame, side: int | None) -> np.ndarray:
    w, h = scaled_size(frame.width, frame.height, side)
    if (w, h) == (frame.width, frame.height):
        rgb = frame.to_ndarray(format="rgb24")
    else:
        rgb = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)) if rotation else rgb


def decode(path: str, pick, side: int | None, seek_seconds: float, max_pixels: int, all_frames: bool = True
           ) -> SampledFrames:
    """Decode the frames `pick(duration, fps, count)` asks for (frame numbers), scaled to `side`. With
    all_frames False, FFmpeg skips the frames no other frame refers to (most B-frames: about half of a typical
    H.264 file) and never decodes them: a wanted frame among them becomes the next decoded one, and the signal
    has small gaps."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = int(os.environ.get(THREADS_ENV, "0") or 0)
        if not all_frames:          # frames no other frame depends on are dropped before decoding
            stream.codec_context.skip_frame = "NONREF"
        check_pixels(stream.codec_context.width, stream.codec_context.height, max_pixels)
        fps, duration, count = _geometry(container, stream)
        wanted = sorted(set(pick(duration, fps, count)))
        recorder, counter = SignalRecorder(), {"seeks": 0}
        got = _frames(container, stream, wanted, fps, side, seek_seconds, counter, recorder)
        if not got:
            raise VideoUnreadable("contains no decodable video frames; it may be empty or truncated")
        numbers = [n for n, _, _ in got]
        if len(got) < len(wanted) and numbers[-1] < count * 0.9:
            duration = (numbers[-1] + 1) / fps       # the header over-promised; trust what decoded
        return SampledFrames(tuple(img for _, _, img in got), tuple(t for _, t, _ in got), tuple(numbers),
                             duration or (numbers[-1] + 1) / fps, fps, stream.codec_context.width,
                             stream.codec_context.height, "pyav", counter["seeks"], recorder.signal(fps))


def _position(frame, base, tb: float, fps: float, previous: int) -> int:
    """A decoded frame's number, from its timestamp (the one after `previous` when it has none)."""
    return round((frame.pts - base) * tb * fps) if frame.pts is not None else previous + 1


def _signal_tail(container, stream, position: int, fps: float, base, tb: float, recorder: SignalRecorder,
                 seconds: float = 0.6) -> None:
    """Decode a little past the last sampled frame, for the signal only: what follows it (a fade-out, a cut)
    decides whether that frame is clear."""
    end = position + max(1, round(seconds * fps))
    for frame in container.decode(stream):
        position = _position(frame, base, tb, fps, position)
        recorder.add(position, tiny_luma(frame))
        if position >= end:
            break


def _frames(container, stream, wanted: list[int], fps: float, side, seek_seconds: float, counter: dict,
            recorder: SignalRecorder | None = None) -> list:
    """(frame number, time, image) for each wanted frame number: the first frame at or after it. Every decoded
    frame's tiny grey image goes to `recorder` (the cheap signal shots.py reads the edit from)."""
    base = stream.start_time or 0
    tb = float(stream.time_base) if stream.time_base else 1.0 / fps
    out: list = []
    pending = list(wanted)
    seek_gap = seek_seconds * fps if seek_seconds > 0 else float("inf")
    position = -1
    try:
        while pending:
            if pending[0] - position >= seek_gap:
                container.seek(int(base + pending[0] / fps / tb), stream=stream, backward=True)
                counter["seeks"] += 1
            for frame in container.decode(stream):
                position = _position(frame, base, tb, fps, position)
                if recorder is not None:
                    recorder.add(position, tiny_luma(frame))
                if position < pending[0]:
                    continue
                out.append((position, position / fps, _image(frame, side)))
                while pending and pending[0] <= position:
                    pending.pop(0)
                if not pending or pending[0] - position >= seek_gap:
                    break
            else:
                break                                   # the stream ended before the last wanted frame
        if recorder is not None and out and not pending:
            with contextlib.suppress(Exception):     # the frames are read; a damaged tail only shortens the signal
                _signal_tail(container, stream, position, fps, base, tb, recorder)
    except Exception as exc:
        if not out:
            raise VideoUnreadable(f"cannot be decoded ({short(exc)}); the file may be truncated or damaged") from None
        log.warning("decoding stopped early (%s); using the %d frames read", short(exc), len(out))
    return out
