"""Scaling of the analysis engine with cores: the same library, a fresh process per run, pinned with taskset.

    python bench/bench_engine.py [--videos DIR] [--copies 2] [--cores 1 2] [--repeat 3] [--model FILE.tflite]

The library is the clips of --videos, --copies times (each copy made distinct by a few appended bytes, which the
decoders ignore, so that no copy shares another's cached analysis). Each run is `organize LIB --dry-run --json`
in a fresh process pinned to the first N usable CPUs (`taskset -c`), with a fresh state (so everything is
analysed), and the default --workers (one per usable core). Reported per core count: the median wall time of
--repeat runs, videos/min, sampled frames/s, peak memory (this process plus every worker, from --json), and the
speed-up against the first core count.
"""

from __future__ import annotations

import argparse
import json
import os
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

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".flv", ".mov", ".avi")


def make_library(videos: Path, copies: int, root: Path) -> int:
    old = time.time() - 3600
    n = 0
    for copy in range(copies):
        for src in sorted(videos.iterdir()):
            if src.suffix.lower() not in VIDEO_SUFFIXES:
                continue
            dst = root / f"copy{copy}" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            if copy:
                with open(dst, "ab") as fh:
                    fh.write(f"organize-bench-copy-{copy}".encode())
            os.utime(dst, (old, old))
            n += 1
    return n


def run_once(root: Path, cpus: list[int], model: str, extra: list[str]) -> tuple[float, dict]:
    shutil.rmtree(root / ".organizer", ignore_errors=True)
    cmd = ["taskset", "-c", ",".join(map(str, cpus)), sys.executable, "-m", "organizer", str(root), "--dry-run",
           "--json", "--settle-seconds", "0", "--clusters", "auto"] + (["--model", model] if model else []) + extra
    env = child_env()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"organize failed ({proc.returncode}): {proc.stderr[-2000:] or proc.stdout[-2000:]}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default=str(HERE.parent.parent / "shared" / "models" /
                                           "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"))
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more organize options")
    args = ap.parse_args()
    usable = sorted(os.sched_getaffinity(0))
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory(prefix="organize-engine-") as tmp:
        root = Path(tmp) / "lib"
        n = make_library(args.videos, args.copies, root)
        print(f"library: {n} videos ({args.copies} x {args.videos}); model: {Path(args.model).name or 'InceptionV3'}; "
              f"median of {args.repeat} fresh processes")
        print("| cores | workers | wall | videos/min | frames/s | peak memory | speed-up |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        base, timings = None, []
        for cores in args.cores:
            cpus = usable[:cores]
            runs = [run_once(root, cpus, args.model, args.extra) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in runs)
            data = runs[0][1]
            base = base or wall
            print(f"| {cores} | {cores} | {wall:.2f} s | {data['videos'] / wall * 60:.0f} | "
                  f"{data['frames'] / wall:.1f} | {max(r[1]['memory_mib'] for r in runs):.0f} MiB | "
                  f"{base / wall:.2f}x |", flush=True)
            timings.append((cores, data["seconds"], data.get("timings", {})))
        for cores, seconds, laps in timings:
            print(f"phases at {cores} cores (seconds inside organize {seconds}): {laps}")


if __name__ == "__main__":
    main()
