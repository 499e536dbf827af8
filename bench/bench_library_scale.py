"""What library-level statistics cost as a library grows (issue 25): furniture and repost groups over N videos of
synthetic keyframe features, through the hash index, against the pairs an all-against-all comparison would make.

    python bench/bench_library_scale.py [--videos 2000 20000] [--dim 1024]

Each video has 6 keyframes (1024-d, like MobileNet v1); 60 % open with one of three intros (two pictures each);
5 % have a re-encoded copy (features with a little noise). The index is forced on (EXACT = 0) at every size, and the
exact comparison is timed too where it fits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

from organizer.grouping import furniture as fu  # noqa: E402
from organizer.grouping import reposts  # noqa: E402


def library(n: int, dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    intros = rng.normal(size=(3, 2, dim)).astype(np.float32) * 3
    groups = rng.normal(size=(max(2, n // 10), dim)).astype(np.float32)
    features = {}
    for i in range(n):
        rows = groups[i % len(groups)] + rng.normal(size=(6, dim)).astype(np.float32)
        if rng.random() < 0.6:
            rows[:2] = intros[rng.integers(3)] + 0.1 * rng.normal(size=(2, dim))
        features[f"v{i}"] = rows
    for i in range(0, n, 20):
        features[f"v{i}-copy"] = features[f"v{i}"] + 0.05 * rng.normal(size=(6, dim)).astype(np.float32)
    return features


def compared_pairs(features: dict) -> int:
    """The keyframe pairs the index makes the search compare: within each bucket of each table."""
    from organizer.vectors import l2n

    raw = l2n(np.concatenate(list(features.values())))
    keys = fu._hashes(l2n(raw - raw.mean(0)), 0)
    total = 0
    for t in range(keys.shape[1]):
        _, counts = np.unique(keys[:, t], return_counts=True)
        total += int((counts * (counts - 1) // 2).sum())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--dim", type=int, default=1024)
    args = ap.parse_args()
    print(f"machine: {describe()}\n")
    print("| videos | keyframes | furniture: seconds | pictures | reposts: seconds | groups | pairs compared (index) "
          "| pairs all against all |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    fu.EXACT = 0
    for n in args.videos:
        features = library(n, args.dim)
        keyframes = sum(len(f) for f in features.values())
        start = time.perf_counter()
        found = fu.find(features)
        t_furniture = time.perf_counter() - start
        videos = {v: {"features": f, "looks": None, "times": tuple(range(len(f))), "duration": 6.0,
                      "furniture": found.marks.get(v, ())} for v, f in features.items()}
        start = time.perf_counter()
        same = reposts.groups(videos)
        t_reposts = time.perf_counter() - start
        compared = compared_pairs(features)
        print(f"| {len(features):,} | {keyframes:,} | {t_furniture:.1f} | {len(found.pictures)} | {t_reposts:.1f} | "
              f"{len(same)} | {compared:,} | {keyframes * (keyframes - 1) // 2:,} |", flush=True)


if __name__ == "__main__":
    main()
