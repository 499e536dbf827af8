"""Clustering at scale: a million synthetic 2048-d video vectors, clustered, then a night that places 10,000 new ones.

    python bench/bench_scale.py [--n 1000000] [--dim 2048] [--k 1000] [--new 10000] [--phases cluster-k auto assign]

Each phase runs in a fresh process (so its peak memory is its own) on the same seeded data: non-negative vectors
like CNN pooled features (a shared component, one of k directions, noise; a ReLU), in k groups of equal size.
- cluster-k: `--clusters k` (VideoClusterer with n_clusters=k): MiniBatchKMeans on a PCA projection past scale.LARGE;
- auto: `--clusters auto` (distance groups) on the same vectors;
- exact-k, exact-auto: the same through the small-library path (exact KMeans, linkage over every video), whatever
  n is: the "before" (run them at a smaller --n: linkage needs n^2/2 distances);
- assign: a library of n videos in k cluster folders with stored centroids, plus `--new` new videos from the same
  groups: placement.place() as a nightly run calls it (nearest centroid, groups among the rest, the drift check),
  then placement.refreshed() as the run does after moving them.
Reported: seconds, peak RSS (MiB; the vectors alone are n x dim x 4 bytes), and ARI against the generating groups.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402


def vectors(n: int, dim: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n vectors in k equal groups (labels = i mod k), generated a chunk at a time into one float32 array."""
    rng = np.random.default_rng(seed)
    common = rng.random(dim, dtype=np.float32) * 2
    centres = (rng.random((k, dim), dtype=np.float32) ** 3) * 4
    labels = np.arange(n) % k
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 16384):
        part = slice(start, min(n, start + 16384))
        noise = rng.standard_normal((part.stop - start, dim), dtype=np.float32) * 0.35
        np.maximum(common + centres[labels[part]] + noise, 0, out=out[part])
    return out, labels


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, n: int, dim: int, k: int, new: int) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from organizer.grouping.clustering import VideoClusterer
    from organizer.grouping.space import library_mean
    from organizer.grouping.placement import Member, Rules, place, refreshed
    from organizer.grouping import scale
    from organizer.grouping.scale import unit_centroids
    from organizer.types import ClusterRow, ClusterSet

    x, truth = vectors(n + (new if name == "assign" else 0), dim, k)
    made = peak_mib()
    t = time.perf_counter()
    if name in ("cluster-k", "auto", "exact-k", "exact-auto"):
        large = 10**12 if name.startswith("exact") else scale.LARGE     # exact: the small-library path at any n
        fitted = VideoClusterer(k if name.endswith("-k") else None, random_state=0, large=large).fit(x)
        seconds = time.perf_counter() - t
        return {"seconds": seconds, "peak_mib": peak_mib(), "data_mib": made, "clusters": fitted.n_clusters_,
                "ari": adjusted_rand_score(truth, fitted.labels_), "choice": fitted.choice_}
    old, fresh = x[:n], x[n:]
    names = [f"cluster-{c + 1:04d}" for c in range(k)]
    mean = library_mean(old)
    stored = ClusterSet(tuple(ClusterRow(names[c], v, int((truth[:n] == c).sum()))
                              for c, v in enumerate(unit_centroids(old, mean, truth[:n], k))), mean, "bench")
    members = [Member(f"{names[truth[i]]}/v{i}", f"fp{i}", old[i], names[truth[i]]) for i in range(n)]
    members += [Member(f"new{i}", f"fpn{i}", fresh[i], None) for i in range(len(fresh))]
    t = time.perf_counter()
    placement = place(members, stored, Rules(None, 0.7, "index", 0, 2), "bench", None, set(names))
    placed = time.perf_counter() - t
    correct = sum(placement.assigned[f"new{i}"] == names[truth[n + i]] for i in range(len(fresh)))
    moved = [Member(m.rel, m.fingerprint, m.vector, placement.assigned[m.rel]) for m in members]
    t = time.perf_counter()
    refreshed(moved, set(names), stored, "bench", set(names))
    return {"seconds": placed, "refresh_seconds": time.perf_counter() - t, "peak_mib": peak_mib(), "data_mib": made,
            "placed_correctly": correct / max(1, len(fresh)), "mode": placement.mode,
            "drift": None if placement.drift is None else round(placement.drift.fresh - placement.drift.current, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--new", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--phases", nargs="+", default=["cluster-k", "auto", "assign"])
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.n, args.dim, args.k, args.new)))
        return
    print(describe())
    print(f"{args.n:,} vectors x {args.dim} (float32: {args.n * args.dim * 4 / 2**20:,.0f} MiB), {args.k} groups, "
          f"{args.new:,} new")
    for name in args.phases:
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, __file__, "--phase", name, "--n", str(args.n), "--dim",
                                  str(args.dim), "--k", str(args.k), "--new", str(args.new)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        best["seconds_median"] = statistics.median(r["seconds"] for r in runs)
        print(name, json.dumps(best))


if __name__ == "__main__":
    main()
