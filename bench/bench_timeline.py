"""What a timeline costs (issue 25): its size in the state database, and one comparison of two timelines
(grouping/timeline.compare, made only for candidate pairs of copies) at several lengths.

    python bench/bench_timeline.py [--videos ../shared/videos] [--repeat 5]

Sizes are of the shared clips' real timelines (decoded here, zlib-compressed as the state stores them); comparison
times use a clip's timeline against a mirrored, trimmed copy of itself, and synthetic timelines for lengths the
clips do not have. Median of --repeat.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

from organizer.analysis.timeline import STEP  # noqa: E402
from organizer.analysis.video import AnalysisParams, sample  # noqa: E402
from organizer.grouping import timeline as tl  # noqa: E402
from organizer.store.codec import packed  # noqa: E402


def sizes(videos: Path) -> tuple[float, float, int]:
    """(stored bytes per second of video, raw bytes per second, clips) over the shared clips."""
    stored = raw = seconds = 0.0
    clips = 0
    for path in sorted(videos.glob("*.mp4")):
        rows, step = sample(str(path), AnalysisParams()).timeline
        if rows is None:
            continue
        stored += len(packed(rows))
        raw += rows.size
        seconds += len(rows) * step
        clips += 1
    return stored / seconds, raw / seconds, clips


def timed(a, b, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        tl.compare(a, b)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {describe()}\n")
    if args.videos.exists():
        per_second, raw, clips = sizes(args.videos)
        print(f"timeline size over {clips} shared clips: {per_second:.0f} bytes per second of video stored "
              f"({raw:.0f} raw); a 30 s clip {30 * per_second / 1024:.1f} KiB\n")
    rng = np.random.default_rng(0)
    print("| length | steps | compare: one pair (median) |")
    print("| --- | --- | --- |")
    for seconds in (10, 30, 60, 240, 600):
        n = int(seconds / max(STEP, seconds / 960))
        base = np.cumsum(rng.normal(0, 4, (n, 16, 16)), 0) + 128
        rows = np.clip(base, 0, 255).astype(np.uint8).reshape(n, -1)
        step = max(STEP, seconds / 960)
        copy = rows.reshape(n, 16, 16)[int(0.3 * n):, :, ::-1].reshape(-1, 256)
        print(f"| {seconds} s | {n} | {1000 * timed(tl.Timeline(rows, step), tl.Timeline(copy, step), args.repeat):.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
