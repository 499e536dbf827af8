"""How long a nightly run takes when nothing is new, for libraries of 1,000 to 10,000 organised videos.

    python bench/bench_state.py [--sizes 1000 3000 10000] [--repeat 3] [--frames 16]

For each size it fabricates a library in a temporary folder: N small files (stand-ins for videos) spread over 30
cluster folders, and a state database holding, for each, what a real run stores (a 2048-d vector, 1000 class
scores, keyframe metadata, three JPEG thumbnails, --frames x 2048 float16 frame features), plus 30 centroids.
Then it runs `organize PATH --clusters 30 --json` in a fresh process (as cron would) and reports the median wall
time of --repeat runs, the in-process time organize reports, and that nothing was planned or analysed. The model
is `--weights imagenet`, which is never loaded: a no-op run needs neither TensorFlow nor the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from organizer.analysis.video import AnalysisParams  # noqa: E402
from organizer.grouping.space import library_mean, prepare  # noqa: E402
from organizer.config import Settings  # noqa: E402
from organizer.features import FeatureSpec  # noqa: E402
from organizer.vectors import l2n  # noqa: E402
from organizer.layout import Layout  # noqa: E402
from organizer.store.state import FileRow, LibraryState  # noqa: E402
from organizer.types import Analysis, ClusterRow, ClusterSet, Keyframes  # noqa: E402

CLUSTERS = 30


def fabricate(root: Path, n: int, n_frames: int, rng: np.random.Generator) -> None:
    spec = FeatureSpec.from_settings(Settings())
    key = AnalysisParams.from_settings(Settings()).key(spec)
    old = time.time() - 86400
    thumb = cv2.imencode(".jpg", rng.integers(0, 255, (90, 160, 3), dtype=np.uint8))[1].tobytes()
    keyframes = Keyframes((0, 5, 9), (0.5, 5.5, 9.5), (12, 137, 237), (120.0, 98.5, 143.2), (("blurred", 1),))
    centres = l2n(rng.normal(size=(CLUSTERS, 2048)).astype(np.float32))
    vectors = np.empty((n, 2048), np.float32)
    with LibraryState.open(Layout.of(root).state_dir) as state:
        rows = []
        for i in range(n):
            c = i % CLUSTERS
            folder = root / f"{c + 1:02d}-cluster"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"video-{i:05d}.mp4"
            path.write_bytes(rng.bytes(2048))
            os.utime(path, (old, old))
            st = os.stat(path)
            fp = f"{st.st_size}-{i:024x}-10.0"
            rows.append(FileRow(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, os.fspath(path), fp))
            vectors[i] = l2n(centres[c] + 0.3 * rng.normal(size=2048).astype(np.float32))
            features = rng.normal(size=(n_frames, 2048)).astype(np.float16) if n_frames else None
            state.store_analysis(fp, key, Analysis(10.0, 10, keyframes, vectors[i], rng.random(1000).astype(np.float32),
                                                   (thumb,) * 3, features))
        state.remember_files(rows)
        mean = library_mean(vectors)
        x = prepare(vectors, mean)
        state.save_clusters(ClusterSet(tuple(ClusterRow(f"{c + 1:02d}-cluster", l2n(x[c::CLUSTERS].mean(0)),
                                                        len(x[c::CLUSTERS])) for c in range(CLUSTERS)), mean, spec.space))


def run_once(root: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "organizer.cli", str(root), "--clusters", str(CLUSTERS), "--json"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"organize failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames", type=int, default=16, help="frame features stored per video")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| videos | state.sqlite | wall (median) | in-process (median) | planned | cached |")
    print("| --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="organize-bench-") as tmp:
            root = Path(tmp) / "lib"
            fabricate(root, n, args.frames, rng)
            run_once(root)          # warm the page cache, as on a machine that ran yesterday
            walls, inner = [], []
            for _ in range(args.repeat):
                wall, data = run_once(root)
                assert data["planned"] == 0 and data["cached"] == n and data["new"] == [], data
                walls.append(wall)
                inner.append(data["seconds"])
            size = Layout.of(root).state_file.stat().st_size / 2**20
            print(f"| {n} | {size:.0f} MiB | {statistics.median(walls):.2f} s | {statistics.median(inner):.2f} s "
                  f"| {data['planned']} | {data['cached']} |", flush=True)


if __name__ == "__main__":
    main()
