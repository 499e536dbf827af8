"""Bytes the state database keeps per video, measured on real clips.

    python bench/bench_state_size.py [--videos ../shared/videos] [--model FILE.tflite | --weights random]

Analyses the clips through organize() into a fresh state database (a dry run: nothing moves) and reports, per
video, the bytes of each stored column (SQL length()), the per-frame features (stored only when
AnalysisParams.keep_frame_features is on, which no command turns on), and the database file size divided by the
number of videos (which includes SQLite's pages, indexes and the run records, so it is an upper bound).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from organizer.config import Settings  # noqa: E402
from organizer.engine.executor import LocalExecutor  # noqa: E402
from organizer.features import FeatureSpec  # noqa: E402
from organizer.analysis.video import AnalysisParams  # noqa: E402
from organizer.pipeline import ResolvedRun, organize  # noqa: E402
from organizer.store.state import LibraryState  # noqa: E402

COLUMNS = ("vector", "class_scores", "thumbnails", "keyframes")


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--model", help="a .tflite model (default: InceptionV3 with --weights)")
    ap.add_argument("--weights", default="random")
    args = ap.parse_args()
    settings = Settings(features_model=args.model or "", features_weights=args.weights, safety_settle_seconds=0.0)
    spec, params = FeatureSpec.from_settings(settings), AnalysisParams.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="organize-size-") as tmp:
        with LibraryState.open(Path(tmp)) as state:
            planned = organize(args.videos, ResolvedRun.of(settings), state=state, executor=LocalExecutor(spec, params))
        db = sqlite3.connect(Path(tmp) / "state.sqlite")
        n = db.execute("SELECT count(*) FROM videos WHERE error IS NULL").fetchone()[0]
        sums = db.execute("SELECT " + ", ".join(f"coalesce(sum(length({c})), 0)" for c in COLUMNS) +
                          " FROM videos").fetchone()
        frames = db.execute("SELECT coalesce(sum(length(data)), 0) FROM frame_features").fetchone()[0]
        files = db.execute("SELECT coalesce(sum(length(path)) + 64 * count(*), 0) FROM files").fetchone()[0]
        size = (Path(tmp) / "state.sqlite").stat().st_size
    print(f"{spec.describe()}: {n} videos analysed ({len(planned.results)} placed)")
    for column, total in zip(COLUMNS, sums):
        print(f"  {column:14s} {total / n:9,.0f} bytes per video")
    print(f"  {'frame features':14s} {frames / n:9,.0f} bytes per video")
    print(f"  {'files row':14s} {files / n:9,.0f} bytes per video (path and numbers, about)")
    print(f"  total stored   {(sum(sums) + frames + files) / n:9,.0f} bytes per video; the file: {size / n:,.0f} "
          f"bytes per video ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
