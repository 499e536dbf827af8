"""The Ray executor against the local engine on the same library and machine.

    python bench/bench_ray.py [--videos DIR] [--copies 2] [--repeat 3] [--nodes 2] [--model FILE.tflite]

Starts a Ray cluster on 127.0.0.1 (a head and --nodes - 1 more nodes, one CPU each; so on a 2-core machine the
two executors get the same two cores), builds the library of bench_engine.py (--copies distinct copies of the
clips), and runs `organize LIB --dry-run --json` in fresh processes: local (--workers = nodes), then
`--executor ray --ray-address`. Reported: the median wall time of --repeat runs, videos/min per node (per CPU),
and whether both plan the same moves. The cluster is stopped at the end, even on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_engine  # noqa: E402
from bench_engine import make_library  # noqa: E402
from machine import describe  # noqa: E402

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(root: Path, model: str, extra: list[str]) -> tuple[float, dict, list]:
    """bench_engine's run on every usable CPU, and the moves it planned."""
    wall, data = bench_engine.run_once(root, sorted(os.sched_getaffinity(0)), model, extra)
    moves = sorted((m["src"], m["dst"]) for m in json.loads(Path(data["manifest"]).read_text())["moves"])
    return wall, data, moves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--model", default=str(HERE.parent.parent / "shared" / "models" /
                                           "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"))
    args = ap.parse_args()
    print(f"machine: {describe()}")
    tmp_ray = tempfile.mkdtemp(prefix="orgray", dir="/tmp")
    # For the cluster and for every organize run (bench_engine starts them with this process's environment).
    os.environ.update(RAY_TMPDIR=tmp_ray, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    env = dict(os.environ)
    port = free_port()
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
    try:
        subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                        "--include-dashboard=false", *common], env=env, check=True, capture_output=True)
        for _ in range(args.nodes - 1):
            subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True,
                           capture_output=True)
        with tempfile.TemporaryDirectory(prefix="organize-ray-") as tmp:
            root = Path(tmp) / "lib"
            n = make_library(args.videos, args.copies, root)
            print(f"library: {n} videos; model {Path(args.model).name}; {args.nodes} Ray nodes of 1 CPU on this "
                  f"machine; median of {args.repeat} fresh processes")
            print("| executor | wall | videos/min | videos/min per CPU | same moves as local |")
            print("| --- | --- | --- | --- | --- |")
            local_moves = None
            for name, extra in (("local", ["--workers", str(args.nodes)]),
                                ("ray", ["--executor", "ray", "--ray-address", f"127.0.0.1:{port}"])):
                runs = [run_once(root, args.model, extra) for _ in range(args.repeat)]
                wall = statistics.median(r[0] for r in runs)
                moves = runs[0][2]
                local_moves = local_moves or moves
                per_min = runs[0][1]["videos"] / wall * 60
                print(f"| {name} | {wall:.2f} s | {per_min:.0f} | {per_min / args.nodes:.0f} | "
                      f"{'yes' if moves == local_moves else 'NO'} |", flush=True)
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(tmp_ray, ignore_errors=True)


if __name__ == "__main__":
    main()
