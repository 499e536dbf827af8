"""Decoding strategies for sampling frames, measured on a folder of videos (default ../shared/videos).

    python bench/bench_decode.py [--videos DIR] [--max-frames 64 16] [--repeat 3]

For each --max-frames cap it times, over all clips (median of --repeat):
  grab      OpenCV, every frame grabbed (no colour conversion), sampled frames retrieved   (seek_seconds = 0)
  seek      the same, but seeking when the next sample is >= 5 s ahead                      (the default)
  keyframes PyAV decoding only the key frames (skip_frame = NONKEY), nearest key frame to each sample time
and, for `keyframes`, how far the frames it can offer are from the wanted sample times (a measure of whether
"key frames only" is enough).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from organizer.analysis.decode import sample_times, sample_video  # noqa: E402
from organizer.scan import scan  # noqa: E402


def keyframes_only(path: Path, max_frames: int) -> tuple[int, float]:
    """Decode only key frames; returns (frames decoded, mean distance in s from each sample time to a key frame)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        stream.thread_type = "AUTO"
        times = []
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            if frame.time is not None:
                times.append(float(frame.time))
        duration = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
    wanted = sample_times(duration, 1.0, max_frames, 3)
    if not times:
        return 0, float("nan")
    t = np.array(times)
    return len(times), float(np.mean([np.abs(t - w).min() for w in wanted]))


def make_long_video(path: Path, minutes: float) -> None:
    import cv2

    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    picture = None
    for i in range(int(minutes * 60 * 25)):
        if i % 75 == 0:
            picture = cv2.resize(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8), (640, 360),
                                 interpolation=cv2.INTER_CUBIC)
        writer.write(picture)
    writer.release()
    old = time.time() - 3600
    os.utime(path, (old, old))


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--max-frames", type=int, nargs="+", default=[64, 16])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--long-minutes", type=float, default=0,
                    help="instead, one generated video this long (640x360, 25 frames/s, a new picture every 3 s)")
    args = ap.parse_args()
    if args.long_minutes:
        import tempfile
        args.videos = Path(tempfile.mkdtemp(prefix="organize-long-"))
        make_long_video(args.videos / "long.mp4", args.long_minutes)
    videos = scan(args.videos, settle_seconds=0).videos
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(videos)} videos")
    print("| max frames | strategy | seconds (median) | frames | seeks | mean distance to sample time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for cap in args.max_frames:
        for name, seek in (("grab", 0.0), ("seek", 5.0)):
            times = []
            for _ in range(args.repeat):
                a = time.perf_counter()
                sampled = [sample_video(v.path, 1.0, cap, 3, seek_seconds=seek) for v in videos]
                times.append(time.perf_counter() - a)
                frames, seeks = sum(len(s.frames) for s in sampled), sum(s.seeks for s in sampled)
            print(f"| {cap} | {name} | {statistics.median(times):.2f} s | {frames} | {seeks} | 0 (exact) |",
                  flush=True)
        times, dists, frames = [], [], 0
        for _ in range(args.repeat):
            a = time.perf_counter()
            res = [keyframes_only(v.path, cap) for v in videos]
            times.append(time.perf_counter() - a)
            frames = sum(r[0] for r in res)
            dists = [r[1] for r in res if r[1] == r[1]]
        print(f"| {cap} | keyframes | {statistics.median(times):.2f} s | {frames} | - | "
              f"{np.mean(dists):.2f} s (worst clip {np.max(dists):.2f} s) |", flush=True)


if __name__ == "__main__":
    main()
