"""How long checking a manifest takes, from 1,000 to 1,000,000 moves (issue 22, class 10).

    python bench/bench_manifest.py [--sizes 1000 8000 100000 1000000] [--repeat 3]

Builds a plan of N moves (realistic names, two levels deep), writes it as organize writes manifests, and times
Plan.from_json (parse, type checks, path checks, duplicate checks) and Plan.digest (the content identity recorded
with each application). Prints the median of --repeat runs per size and the time per move: flat per-move times mean
linear. Before the fix, 8,000 moves took about 3 s (a quadratic duplicate check).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from organizer.moves.plan import ClusterInfo, Move, Plan  # noqa: E402
from organizer.moves.manifest import parse_plan


def plan_of(n: int) -> Plan:
    moves = [Move(f"downloads/batch-{i // 1000:04d}/clip {i:07d} [1080p].mp4",
                  f"{i % 30 + 1:02d}-cosplay-stage/clip {i:07d} [1080p].mp4", f"{i % 30 + 1:02d}-cosplay-stage",
                  1_000_000 + i, 1_600_000_000_000_000_000 + i, 10_000 + i, 0.25, f"{i:016x}") for i in range(n)]
    return Plan("/home/me/Videos", "/home/me/Videos", "2026-11-29T00:00:00", {},
                [ClusterInfo(f"{c:02d}-cosplay-stage", n // 30) for c in range(1, 31)], moves)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(describe())
    print(f"{'moves':>9} {'manifest MB':>12} {'check s':>9} {'us/move':>8} {'digest s':>9}")
    for n in args.sizes:
        text = plan_of(n).to_json()
        checks, digests = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            plan = parse_plan(text)
            checks.append(time.perf_counter() - start)
            start = time.perf_counter()
            plan.digest()
            digests.append(time.perf_counter() - start)
        check = statistics.median(checks)
        print(f"{n:>9} {len(text) / 1e6:>12.1f} {check:>9.3f} {check / n * 1e6:>8.2f} "
              f"{statistics.median(digests):>9.3f}", flush=True)


if __name__ == "__main__":
    main()
