"""The cascade's effect on clustering: ARI on the shared clips with the cascade on and off, for each model.

    python bench/bench_cascade.py [--videos ../shared/videos] [--models ../shared/models] [--random]

Each run is organize's real pipeline over the clips (hard links in a temporary folder, in-memory state, dry run),
with --clusters auto (a first run on fewer than 2 x N videos treats a number N as a ceiling and chooses as auto
does, so a fixed N would repeat the row); the folders are scored against the
groups in videos.csv (ARI; clips without a group count as groups of their own). "Every frame" turns off both the
cascade and the near-duplicate pre-filter, so every sampled frame goes through the model. Also reported: frames sampled and
frames through the CNN.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from clips import offline_models  # noqa: E402
from machine import describe  # noqa: E402

from organizer.config import Settings  # noqa: E402
from organizer.pipeline import ResolvedRun, organize  # noqa: E402
from organizer.store.state import LibraryState  # noqa: E402


def run(videos: Path, groups: dict[str, str], settings: Settings) -> tuple[float, int, int]:
    from sklearn.metrics import adjusted_rand_score

    with tempfile.TemporaryDirectory() as tmp:
        for name in groups:
            try:
                os.link(videos / name, Path(tmp) / name)
            except OSError:
                shutil.copy2(videos / name, Path(tmp) / name)
        result = organize(Path(tmp), ResolvedRun.of(settings), state=LibraryState.memory(), thumbnails=False)
    folders = result.placement.assigned
    names = sorted(n for n in groups if n in folders)
    truth = [groups[n] if groups[n] != "-" else n for n in names]
    found = [folders[n] if folders[n] != "_unsorted" else "unsorted:" + n for n in names]
    if os.environ.get("BENCH_SHOW"):
        print(sorted(zip(found, names)))
    return adjusted_rand_score(truth, found), result.frames, result.frames - result.reused


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--models", type=Path, default=HERE.parent.parent / "shared" / "models")
    ap.add_argument("--random", action="store_true", help="also InceptionV3 with random weights")
    args = ap.parse_args()
    with open(args.videos / "videos.csv", newline="") as fh:
        groups = {r["file"]: r["group"] for r in csv.DictReader(fh) if (args.videos / r["file"]).exists()}
    k = len({g for g in groups.values() if g != "-"}) + sum(g == "-" for g in groups.values())
    models = offline_models(args.models, args.random)
    print(f"machine: {describe()}; {len(groups)} clips, {k} true groups (clips without a group alone)\n")
    print("| model | clusters | ARI, cascade | ARI, every frame | difference | CNN frames, cascade / every frame "
          "(of sampled) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, extra in models:
        for clusters in ("auto",):
            # "every frame": no cascade and no near-duplicate pre-filter, so every sampled frame has its own features
            rows = [run(args.videos, groups, Settings(clusters=clusters, safety_settle_seconds=0.0,
                                                      features_cascade=cascade, **extra,
                                                      **({} if cascade else {"features_reuse_below": 0.0})))
                    for cascade in (True, False)]
            (a, frames, cnn_on), (b, _, cnn_off) = rows
            print(f"| {name} | {clusters} | {a:.3f} | {b:.3f} | {a - b:+.3f} | {cnn_on} / {cnn_off} ({frames}) |")


if __name__ == "__main__":
    main()
