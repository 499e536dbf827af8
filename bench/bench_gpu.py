"""InceptionV3 through Keras 3 on whatever device the Keras backend finds (run with KERAS_BACKEND=jax on a GPU):
the model alone, then organize end to end with the model process batching frames across videos.

    KERAS_BACKEND=jax python bench/bench_gpu.py [--videos DIR] [--copies 4] [--sample-fps 4] [--max-frames 128]

1. The model alone: random weights, batches of 256, float32 and bfloat16; images/s, median of 5 timed batches
   after warm-up (compilation).
2. End to end: `organize LIB --dry-run --json --weights random --backend keras` with engine.model_process = "on"
   and one worker per core, twice in fresh processes sharing a JAX compilation cache (the first run compiles);
   sampled frames per second of wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from bench_engine import make_library  # noqa: E402
from machine import child_env, describe  # noqa: E402


def model_alone(precision: str, batch: int = 256, timed: int = 5) -> float:
    code = f"""
import time, numpy as np, statistics
from organizer.features.inception import InceptionBackend
b = InceptionBackend("random", precision={precision!r})
x = np.random.default_rng(0).integers(0, 255, ({batch}, 299, 299, 3), dtype=np.uint8)
b.embed(x); b.embed(x)
times = []
for _ in range({timed}):
    t = time.perf_counter(); b.embed(x); times.append(time.perf_counter() - t)
print({batch} / statistics.median(times))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env())
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return float(proc.stdout.split()[-1])


def end_to_end(root: Path, config: Path, args) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "organizer", str(root), "--dry-run", "--json", "--settle-seconds", "0",
           "--weights", "random", "--backend", "keras", "--config", str(config), "--sample-fps",
           str(args.sample_fps), "--max-frames", str(args.max_frames), "--clusters", "8"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:] or proc.stdout[-3000:])
    return wall, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--sample-fps", type=float, default=4.0)
    ap.add_argument("--max-frames", type=int, default=128)
    ap.add_argument("--skip-alone", action="store_true")
    ap.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {describe()}; KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    if not args.skip_alone:
        for precision in args.precisions:
            print(f"model alone, {precision}, batch 256: {model_alone(precision):.0f} images/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="organize-gpu-") as tmp:
        root = Path(tmp) / "lib"
        n = make_library(args.videos, args.copies, root)
        for precision in args.precisions:
            config = Path(tmp) / f"{precision}.toml"
            config.write_text(f'[engine]\nmodel_process = "on"\n[features]\nprecision = "{precision}"\n')
            os.environ["JAX_COMPILATION_CACHE_DIR"] = str(Path(tmp) / f"jax-{precision}")
            for attempt in ("first (compiles)", "second (cached compilation)")[:args.runs]:
                shutil.rmtree(root / ".organizer", ignore_errors=True)
                wall, data = end_to_end(root, config, args)
                print(f"end to end, {precision}, {attempt}: {n} videos, {data['frames']} frames in {wall:.1f} s = "
                      f"{data['frames'] / wall:.0f} frames/s, {n / wall * 60:.0f} videos/min, "
                      f"peak memory {data['memory_mib']:.0f} MiB, backend {data['backend']}; phases {data['timings']}",
                      flush=True)


if __name__ == "__main__":
    main()
