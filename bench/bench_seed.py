"""organize against a faithful re-implementation of the second source document's method, side by side.

    python bench/bench_seed.py [--videos DIR] [--fps 1] [--clusters 14] [--weights random] [--repeat 3]

The seed method (classify-videos-kmeans): moviepy `VideoFileClip.iter_frames(fps=1)`, each frame squashed to
299x299, `preprocess_input`, Keras InceptionV3 (avg_pool) `model.predict` one frame at a time, the mean per video,
KMeans(random_state=42). organize: its real pipeline (`organizer.pipeline.organize`, in-memory state, so nothing
is cached between the runs) at the same density: `--fps` frames per second and no cap on frames per video.

Each method runs in its own fresh process (so peak RSS is its own), on the clips both can open (moviepy fails on
some ordinary files; the seed would crash there, the benchmark lists and skips them). Reported per stage:
seconds, frames/s, videos/min, peak RSS, and the ratio. The one-time TFLite conversion of InceptionV3 is done
before timing and reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would
    report its parent's peak when that is higher."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed_method(files: list[Path], fps: float, clusters: int, weights: str) -> dict:
    """The seed document's code, kept as it was except for running at `fps` with every sampled frame predicted."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import numpy as np
    import tensorflow as tf
    from moviepy import VideoFileClip
    from sklearn.cluster import KMeans
    from tensorflow.keras.applications import InceptionV3
    from tensorflow.keras.applications.inception_v3 import preprocess_input
    from tensorflow.keras.models import Model
    import warnings

    warnings.filterwarnings("ignore", module="moviepy")
    t0 = time.perf_counter()
    if weights == "random":
        tf.keras.utils.set_random_seed(0)
    base_model = InceptionV3(weights=None if weights == "random" else weights)
    model = Model(inputs=base_model.input, outputs=base_model.get_layer("avg_pool").output)
    load = time.perf_counter() - t0
    decode = feats = 0.0
    frames = 0
    vectors, failed = [], []
    for path in files:
        try:
            video = VideoFileClip(str(path))
        except Exception as exc:          # the seed crashes here; the benchmark records and skips
            failed.append(f"{path.name}: {str(exc).splitlines()[0][:100]}")
            continue
        features = []
        it = video.iter_frames(fps=fps)
        while True:
            a = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                decode += time.perf_counter() - a
                break
            except Exception as exc:
                failed.append(f"{path.name}: {str(exc).splitlines()[0][:100]}")
                features = []
                break
            b = time.perf_counter()
            img = cv2.resize(frame, (299, 299))
            img = tf.keras.utils.img_to_array(img)
            img = np.expand_dims(img, axis=0)
            img = preprocess_input(img)
            feature = model.predict(img, verbose=0)
            features.append(feature.flatten())
            c = time.perf_counter()
            decode += b - a
            feats += c - b
            frames += 1
        video.close()
        if features:
            vectors.append(np.mean(features, axis=0))
    a = time.perf_counter()
    KMeans(n_clusters=min(clusters, len(vectors)), random_state=42).fit(np.array(vectors))
    cluster = time.perf_counter() - a
    return {"videos": len(vectors), "frames": frames, "load": load, "decode": decode, "features": feats,
            "clustering": cluster, "total": time.perf_counter() - t0, "failed": failed, "peak_rss": peak_rss_mib()}


def our_method(files: list[Path], fps: float, clusters: int, weights: str, backend: str, model: str = "",
               cascade: bool = True, all_frames: bool = False) -> dict:
    import tempfile

    from organizer.config import Settings
    from organizer.pipeline import ResolvedRun, organize
    from organizer.store.state import LibraryState

    settings = Settings(sampling_fps=fps, sampling_max_frames=2000, clusters=str(clusters),
                        features_weights=weights, features_backend=backend, safety_settle_seconds=0.0,
                        features_model=model, features_cascade=cascade, sampling_all_frames=all_frames)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:   # hard links (or copies across filesystems): organize sees exactly these clips
            try:
                os.link(f, Path(tmp) / f.name)
            except OSError:
                shutil.copy2(f, Path(tmp) / f.name)
        t0 = time.perf_counter()
        result = organize(Path(tmp), ResolvedRun.of(settings), state=LibraryState.memory(), thumbnails=False)
    total = time.perf_counter() - t0
    return {"videos": len(result.results), "frames": result.frames, "reused": result.reused, "total": total,
            "failed": [f"{f.path}: {f.reason}" for f in result.plan.skipped], "backend": result.backend,
            "peak_rss": peak_rss_mib()}


def child(args) -> None:
    files = [Path(p) for p in json.loads(args.files)]
    if args.method == "seed":
        out = seed_method(files, args.fps, args.clusters, args.weights)
    else:
        out = our_method(files, args.fps, args.clusters, args.weights, args.backend, args.model,
                         not args.no_cascade, args.all_frames)
    print("RESULT " + json.dumps(out))


def run_child(method: str, files: list[Path], args, backend: str = "auto", model: str = "",
              cascade: bool = True, all_frames: bool = False, repeat: int = 1) -> dict:
    """One method in fresh processes; with repeat > 1, the run with the median end-to-end time."""
    cmd = [sys.executable, __file__, "--child", method, "--files", json.dumps([str(f) for f in files]),
           "--fps", str(args.fps), "--clusters", str(args.clusters), "--weights", args.weights, "--backend", backend,
           "--model", model] + ([] if cascade else ["--no-cascade"]) + (["--all-frames"] if all_frames else [])
    results = []
    for _ in range(repeat):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{method} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        results.append(json.loads(line[7:]))
    return sorted(results, key=lambda r: r["total"])[len(results) // 2]


def make_cosplay_videos(clips: Path, out: Path, n: int, seed: int = 3) -> list[Path]:
    """Low-entropy videos like the cosplay case: 3-5 still pictures (taken from the real clips), each held 6-12 s,
    some coming back, with a little sensor noise; about 40 s each, 640x360, 25 frames/s."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from eval_keyframes import scene_pool

    pool = [frames[0] for _, frames in scene_pool(clips)]
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        stills = [cv2.resize(pool[j], (640, 360)) for j in rng.choice(len(pool), int(rng.integers(3, 6)), False)]
        order = list(range(len(stills))) + [int(x) for x in rng.choice(len(stills), 2)]
        path = out / f"cosplay-{i:02d}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
        for k in order:
            for _ in range(int(rng.integers(6, 13)) * 25):
                noisy = np.clip(stills[k].astype(np.int16) + rng.integers(-3, 4, stills[k].shape), 0, 255)
                writer.write(cv2.cvtColor(noisy.astype(np.uint8), cv2.COLOR_RGB2BGR))
        writer.release()
        paths.append(path)
    return paths


def openable_by_moviepy(files: list[Path]) -> tuple[list[Path], list[str]]:
    import warnings

    from moviepy import VideoFileClip

    warnings.filterwarnings("ignore", module="moviepy")      # pages of ffmpeg stream listings per clip
    ok, bad = [], []
    for f in files:
        try:
            with VideoFileClip(str(f)) as clip:
                clip.get_frame(0)
            ok.append(f)
        except Exception as exc:
            bad.append(f"{f.name} ({str(exc).splitlines()[0][:80]})")
    return ok, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "videos")
    ap.add_argument("--fps", type=float, default=1.0)
    ap.add_argument("--clusters", type=int, default=14)
    ap.add_argument("--weights", default="random", help="random (offline) or imagenet")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--only", nargs="*", help="clip file names to use (default: all)")
    ap.add_argument("--cosplay", type=int, default=0, metavar="N",
                    help="instead of the clips, N generated low-entropy videos (still pictures held for seconds)")
    ap.add_argument("--models", type=Path, default=ROOT.parent / "shared" / "models",
                    help="also organize with the MobileNet TFLite models found here, in the same run")
    ap.add_argument("--model", default="", help=argparse.SUPPRESS)
    ap.add_argument("--no-cascade", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--all-frames", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each organize row (the median is shown)")
    ap.add_argument("--child", choices=["seed", "ours"], help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.method = args.child
        return child(args)

    from organizer.scan import is_video_name

    files = sorted(p for p in args.videos.iterdir() if p.is_file() and is_video_name(p.name))
    if args.cosplay:
        import tempfile
        files = make_cosplay_videos(args.videos, Path(tempfile.mkdtemp(prefix="organize-cosplay-")), args.cosplay)
    if args.only:
        files = [f for f in files if f.name in set(args.only)]
    if not files:
        raise SystemExit(f"no videos in {args.videos}")
    files, refused = openable_by_moviepy(files)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import describe

    print(f"machine: {describe()}; {len(files)} clips ({len(refused)} moviepy cannot open: "
          f"{', '.join(refused) or 'none'}); {args.fps:g} frame/s, weights {args.weights}")
    t = time.perf_counter()
    warm = run_child("ours", files[:1], args, args.backend)      # converts InceptionV3 once if not cached yet
    print(f"one-time preparation (TFLite conversion if not cached, then one clip): "
          f"{time.perf_counter() - t:.1f} s, backend {warm['backend']}")
    r = args.repeat
    runs = [("InceptionV3 (random weights), cascade", run_child("ours", files, args, args.backend, repeat=r)),
            ("InceptionV3 (random weights), cascade, every frame decoded",
             run_child("ours", files, args, args.backend, all_frames=True, repeat=r)),
            ("InceptionV3 (random weights), no cascade, every frame decoded",
             run_child("ours", files, args, args.backend, cascade=False, all_frames=True, repeat=r))]
    for name, label in (("MobileNet v1", "mobilenet_v1"), ("MobileNet v2", "mobilenet_v2")):
        found = sorted(args.models.glob(f"*{label}*.tflite")) if args.models.is_dir() else []
        if found:
            runs.append((f"{name}, cascade", run_child("ours", files, args, model=str(found[0]), repeat=r)))
    seed = run_child("seed", files, args)
    print(f"seed method: {seed['videos']} videos, {seed['frames']} frames ({seed['frames'] / seed['videos']:.1f} "
          f"per video, all through the CNN); model load {seed['load']:.1f} s, decode (moviepy) {seed['decode']:.1f} s, "
          f"features {seed['features']:.1f} s ({seed['frames'] / seed['features']:.1f} frames/s), clustering "
          f"{seed['clustering']:.2f} s; end to end {seed['total']:.1f} s, peak RSS {seed['peak_rss']:.0f} MiB\n")
    print("| organize | frames sampled | CNN frames per video | end to end | ratio to the seed | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, ours in runs:
        cnn = (ours["frames"] - ours["reused"]) / max(1, ours["videos"])
        print(f"| {label} | {ours['frames']} | {cnn:.1f} | {ours['total']:.1f} s | "
              f"**{seed['total'] / ours['total']:.1f}x** | {ours['peak_rss']:.0f} MiB |")
    for label, res in (("seed", seed), *runs):
        for f in res["failed"]:
            print(f"{label} could not process {f}")


if __name__ == "__main__":
    main()
