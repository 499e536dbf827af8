"""Per-stage timing of the pipeline over a folder of videos (default ../shared/videos).

    python bench/bench_pipeline.py [--videos DIR] [--model FILE.tflite | --weights random] [--repeat 3]

Reports, for the median of --repeat runs: decode, features, keyframes and clustering seconds, frames/s per stage,
videos/min end to end, and peak RSS.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from organizer.clustering import VideoClusterer  # noqa: E402
from organizer.config import Settings  # noqa: E402
from organizer.decode import sample_video  # noqa: E402
from organizer.features import embed_frames, load_backend  # noqa: E402
from organizer.keyframes import KeyframeSelector  # noqa: E402
from organizer.scan import scan  # noqa: E402


def once(videos, settings, backend) -> dict:
    t = {"decode": 0.0, "features": 0.0, "keyframes": 0.0, "clustering": 0.0}
    frames, vectors = 0, []
    for v in videos:
        a = time.perf_counter()
        s = sample_video(v.path, settings.sampling_fps, settings.sampling_max_frames, settings.sampling_min_frames)
        b = time.perf_counter()
        feats, _ = embed_frames(backend, s.frames, settings.features_batch_size)
        c = time.perf_counter()
        sel = KeyframeSelector.from_settings(settings).fit(feats, s.frames, s.times)
        d = time.perf_counter()
        t["decode"] += b - a
        t["features"] += c - b
        t["keyframes"] += d - c
        frames += len(s.frames)
        vectors.append(sel.vector_)
    a = time.perf_counter()
    VideoClusterer(None).fit(np.stack(vectors))
    t["clustering"] = time.perf_counter() - a
    t["frames"] = frames
    return t


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--model", default="")
    ap.add_argument("--weights", default="random")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    settings = Settings(features_model=args.model, features_weights=args.weights)
    videos = scan(args.videos, settle_seconds=0).videos
    a = time.perf_counter()
    backend = load_backend(settings)
    load = time.perf_counter() - a
    runs = [once(videos, settings, backend) for _ in range(args.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    total = sum(med[k] for k in ("decode", "features", "keyframes", "clustering"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"backend: {backend.name} ({args.model or 'inceptionv3 ' + args.weights}); model load {load:.1f} s")
    print(f"{len(videos)} videos, {int(med['frames'])} frames; median of {args.repeat} runs")
    for k in ("decode", "features", "keyframes", "clustering"):
        fps = med["frames"] / med[k] if med[k] else float("inf")
        print(f"  {k:<10} {med[k]:7.2f} s  {fps:8.1f} frames/s")
    print(f"  total      {total:7.2f} s  {med['frames'] / total:8.1f} frames/s  "
          f"{len(videos) / total * 60:6.1f} videos/min")
    print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
