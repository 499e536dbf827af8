"""Replay a library that grows night by night, and compare where its files end up with clustering it all at once.

    python bench/bench_nightly.py [--videos DIR] [--models DIR] [--nights 2 3 4] [--seeds 0 1 2]

For each model (MobileNet v1 embeddings; MobileNet v2 classifier with labels), cluster count (auto; N = the
number of true groups, which a first night on too few videos treats as a ceiling; half the clips, where KMeans
makes N clusters at once but the first nights grow into them; and a small N, where KMeans makes exactly N
clusters) and seed: the clips are shuffled (seeded) and split into 2-4 nights; each night the next
share is copied into the library and `organize LIB --clusters ...` runs and applies. The final folder of every
file is scored against the clips' groups (ARI). Files left in _unsorted count as groups of their own: unsorted
means "belongs with no other", which is what the clips without a group (`-`) are. The same clips clustered at once
(one night) are the reference. Also reported: how many clips with a group ended in _unsorted, and how many without
one did not. Features are computed once per model and reused (the state database is copied between runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import child_env, describe  # noqa: E402

MODELS = {"MobileNet v1": ["--model", "{m}/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"],
          "MobileNet v2": ["--model", "{m}/mobilenet_v2_1.0_224_quant.tflite", "--labels", "{m}/imagenet_labels.txt"]}


def groups_of(videos: Path) -> dict[str, str]:
    with open(videos / "videos.csv", newline="") as fh:
        return {r["file"]: r["group"] for r in csv.DictReader(fh)}


def organize(root: Path, model: list[str], clusters: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "organizer", str(root), "--clusters", clusters, "--json",
                           "--settle-seconds", "0", *model], capture_output=True, text=True, env=child_env())
    if proc.returncode not in (0, 5):
        raise SystemExit(f"organize failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def final_folders(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".organizer"]
        for name in filenames:
            out[name] = os.path.relpath(dirpath, root).split(os.sep)[0]
    return out


def score(folders: dict[str, str], groups: dict[str, str]) -> tuple[float, int, int]:
    """(ARI, clips with a group left in _unsorted, clips without a group not in _unsorted)."""
    from sklearn.metrics import adjusted_rand_score
    names = sorted(folders)
    truth = [groups[n] if groups[n] != "-" else n for n in names]
    found = [folders[n] if folders[n] != "_unsorted" else f"_unsorted/{n}" for n in names]
    grouped_unsorted = sum(folders[n] == "_unsorted" and groups[n] != "-" for n in names)
    loners_placed = sum(folders[n] != "_unsorted" and groups[n] == "-" for n in names)
    return adjusted_rand_score(truth, found), grouped_unsorted, loners_placed


def replay(videos: Path, files: list[str], nights: int, model: list[str], clusters: str, cache: Path | None
           ) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="organize-nightly-") as tmp:
        root = Path(tmp) / "lib"
        root.mkdir()
        if cache is not None and cache.exists():
            shutil.copytree(cache, root / ".organizer")          # analyses computed before: only placement runs
        old = time.time() - 3600
        share = -(-len(files) // nights)
        for night in range(nights):
            for name in files[night * share:(night + 1) * share]:
                shutil.copyfile(videos / name, root / name)
                os.utime(root / name, (old, old))
            organize(root, model, clusters)
        if cache is not None and not cache.exists():
            shutil.copytree(root / ".organizer", cache, ignore=shutil.ignore_patterns("journal", "plans", "lock"))
        return final_folders(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--models", type=Path, default=HERE.parent.parent / "shared" / "models")
    ap.add_argument("--nights", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--clusters", nargs="+", help="cluster counts to replay (default: auto, the number of true "
                    "groups, half and a fifth of the clips)")
    args = ap.parse_args()
    groups = groups_of(args.videos)
    n_groups = len({g if g != "-" else f for f, g in groups.items()})
    print(f"machine: {describe()}")
    print(f"{len(groups)} clips in {n_groups} groups ({sum(g == '-' for g in groups.values())} clips belong with no "
          f"other); nights {args.nights}, seeds {args.seeds}")
    print("| model | clusters | all at once: ARI | nightly: ARI (median, min) | grouped clips in _unsorted | "
          "loners placed in a cluster |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="organize-cache-") as cache_root:
        for label, template in MODELS.items():
            model = [a.format(m=args.models) for a in template]
            cache = Path(cache_root) / label.replace(" ", "_")
            for clusters in args.clusters or ("auto", str(n_groups), str(len(groups) // 2), str(len(groups) // 5)):
                files = sorted(groups)
                once = score(replay(args.videos, files, 1, model, clusters, cache), groups)
                nightly = []
                for nights in args.nights:
                    for seed in args.seeds:
                        order = files[:]
                        random.Random(seed).shuffle(order)
                        nightly.append(score(replay(args.videos, order, nights, model, clusters, cache), groups))
                aris = [r[0] for r in nightly]
                print(f"| {label} | {clusters} | {once[0]:.3f} | {statistics.median(aris):.3f} ({min(aris):.3f}) | "
                      f"{statistics.median(r[1] for r in nightly):.0f} | "
                      f"{statistics.median(r[2] for r in nightly):.0f} |", flush=True)


if __name__ == "__main__":
    main()
