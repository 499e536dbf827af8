"""Per-stage timing of the pipeline over a folder of videos (default ../shared/videos).

    python bench/bench_pipeline.py [--videos DIR] [--model FILE.tflite | --weights random] [--repeat 3]

Reports, for the median of --repeat runs: decode, pre-filter, features, keyframes and clustering seconds with
frames/s per stage (one stage after another), then the real pipeline end to end (decoding in a background thread
overlapping inference) in frames/s and videos/min, and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from organizer.analysis.video import AnalysisParams  # noqa: E402
from organizer.grouping.clustering import VideoClusterer  # noqa: E402
from organizer.config import Settings  # noqa: E402
from organizer.analysis.decode import sample_video  # noqa: E402
from organizer.features import FeatureSpec, embed_frames, load_backend, near_duplicate_sources  # noqa: E402
from organizer.pipeline import ResolvedRun, organize  # noqa: E402
from organizer.scan import scan  # noqa: E402
from organizer.store.state import LibraryState  # noqa: E402


STAGES = ("decode", "filter", "features", "keyframes", "clustering")


def once(videos, settings, backend) -> dict:
    """One sequential pass, timing each stage on its own."""
    t = dict.fromkeys(STAGES, 0.0)
    frames = reused = 0
    vectors = []
    for v in videos:
        a = time.perf_counter()
        s = sample_video(v.path, settings.sampling_fps, settings.sampling_max_frames, settings.sampling_min_frames)
        b = time.perf_counter()
        sources = near_duplicate_sources(s.frames, settings.features_reuse_below)
        unique = sorted(set(sources))
        c = time.perf_counter()
        emb = embed_frames(backend, [s.frames[i] for i in unique], settings.features_batch_size)
        feats = emb.features[[unique.index(src) for src in sources]]
        d = time.perf_counter()
        sel = AnalysisParams.from_settings(settings).selector().fit(feats, s.frames, s.times)
        e = time.perf_counter()
        t["decode"] += b - a
        t["filter"] += c - b
        t["features"] += d - c
        t["keyframes"] += e - d
        frames += len(s.frames)
        reused += len(s.frames) - len(unique)
        vectors.append(sel.vector_)
    a = time.perf_counter()
    VideoClusterer(None).fit(np.stack(vectors))
    t["clustering"] = time.perf_counter() - a
    t["frames"], t["reused"] = frames, reused
    return t


def overlapped(root: Path, settings) -> tuple[float, int]:
    """The real pipeline end to end (decoding in a background thread overlaps inference), no cache."""
    a = time.perf_counter()
    result = organize(root, ResolvedRun.of(settings), state=LibraryState.memory(), thumbnails=False)
    return time.perf_counter() - a, result.frames


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--model", default="")
    ap.add_argument("--weights", default="random")
    ap.add_argument("--backend", default="auto", choices=["auto", "keras"])
    ap.add_argument("--reuse-below", type=float, default=Settings().features_reuse_below)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    settings = Settings(features_model=args.model, features_weights=args.weights, features_backend=args.backend,
                        features_reuse_below=args.reuse_below, safety_settle_seconds=0.0)
    videos = scan(args.videos, settle_seconds=0).videos
    a = time.perf_counter()
    backend = load_backend(FeatureSpec.from_settings(settings))
    load = time.perf_counter() - a
    runs = [once(videos, settings, backend) for _ in range(args.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    total = sum(med[k] for k in STAGES)
    ends = [overlapped(args.videos, settings)[0] for _ in range(args.repeat)]
    end = statistics.median(ends)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"backend: {backend.name} ({args.model or 'inceptionv3 ' + args.weights}); model load {load:.1f} s; "
          f"pre-filter threshold {args.reuse_below:g}")
    print(f"{len(videos)} videos, {int(med['frames'])} frames, {int(med['reused'])} skipped by the pre-filter; "
          f"median of {args.repeat} runs")
    for k in STAGES:
        fps = med["frames"] / med[k] if med[k] else float("inf")
        print(f"  {k:<10} {med[k]:7.2f} s  {fps:8.1f} frames/s")
    print(f"  sum        {total:7.2f} s  {med['frames'] / total:8.1f} frames/s  "
          f"{len(videos) / total * 60:6.1f} videos/min  (stages one after another)")
    print(f"  pipeline   {end:7.2f} s  {med['frames'] / end:8.1f} frames/s  "
          f"{len(videos) / end * 60:6.1f} videos/min  (organize(): decoding overlaps inference)")
    print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
