"""Keyframe evaluation: splice scenes from the real clips (with repeats, in random order) so the truth is known,
run the selector and the first seed document's method (KMeans k=10, nearest frame), report precision, recall,
F1 and |keyframes - scenes| per video and as a mean.

    python bench/eval_keyframes.py [--videos ../shared/videos] [--n 24] [--out docs/KEYFRAMES.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import one_per_group  # noqa: E402
from organizer.analysis.video import AnalysisParams, analyse_frames, sample  # noqa: E402
from organizer.config import Settings  # noqa: E402
from organizer.analysis.decode import sample_video  # noqa: E402
from organizer.features import FeatureSpec, embed_frames, load_backend  # noqa: E402

SIZE = (320, 180)
FPS = 10


def fit16x9(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    target = w / h
    if target > 16 / 9:
        nw = int(h * 16 / 9)
        rgb = rgb[:, (w - nw) // 2:(w - nw) // 2 + nw]
    else:
        nh = int(w * 9 / 16)
        rgb = rgb[(h - nh) // 2:(h - nh) // 2 + nh]
    return cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA)


def scene_pool(videos: Path) -> list[tuple[str, list[np.ndarray]]]:
    """One scene per distinct clip group: a still (cosplay-like) and a 2 s moving segment from its middle."""
    pool = []
    for row in one_per_group(videos):
        s = sample_video(videos / row["file"], fps=FPS, max_frames=10_000, side=None)
        mid = len(s.frames) // 2
        segment = [fit16x9(f) for f in s.frames[mid:mid + 2 * FPS]]
        if min(f.mean() for f in segment) < 25:
            continue   # a dark segment: no picture a person would keep
        pool.append((row["file"], segment))
    return pool


def make_case(pool, rng, path: Path, moving: bool) -> tuple[list[int], list[tuple[float, float, int]]]:
    m = int(rng.integers(2, 7))
    scenes = [int(i) for i in rng.choice(len(pool), m, replace=False)]
    order = scenes + [int(x) for x in rng.choice(scenes, int(rng.integers(0, m + 1)))]
    rng.shuffle(order)
    for i in range(1, len(order)):              # no scene directly after itself
        if order[i] == order[i - 1]:
            order[i], order[0] = order[0], order[i]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    spans, t = [], 0.0
    for sid in order:
        seconds = float(rng.uniform(1.5, 3.0))
        n = round(seconds * FPS)
        frames = pool[sid][1]
        for j in range(n):
            frame = frames[j % len(frames)] if moving else frames[0]
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        spans.append((t, t + n / FPS, sid))
        t += n / FPS
    writer.release()
    return scenes, spans


def scene_at(spans, t: float) -> int:
    for a, b, sid in spans:
        if a <= t < b:
            return sid
    return spans[-1][2]


def score(chosen_times, scenes, spans) -> dict:
    hit = {scene_at(spans, t) for t in chosen_times}
    k, m = len(chosen_times), len(scenes)
    p = len(hit) / k if k else 0.0
    r = len(hit) / m
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f1": f1, "err": abs(k - m), "k": k, "m": m}


def baseline_k10(features: np.ndarray) -> list[int]:
    """The seed document's method: KMeans with k=10 (or n), keep the frame nearest each centre."""
    k = min(10, len(features))
    km = KMeans(k, n_init=10, random_state=0).fit(features)
    return sorted({int(np.argmin(((features - c) ** 2).sum(1))) for c in km.cluster_centers_})


def evaluate(settings: Settings, cases, label: str) -> tuple[dict, list[dict]]:
    backend = load_backend(FeatureSpec.from_settings(settings))
    rows, ours, base = [], [], []
    started = time.monotonic()
    for path, scenes, spans in cases:
        params = AnalysisParams.from_settings(settings)
        s = sample(str(path), params)          # organize's own sampling, edit detection and analysis
        a = score(list(analyse_frames(s, params, backend).keyframes.times), scenes, spans)
        # The seed method sees every frame's own features (no pre-filter).
        every = embed_frames(backend, s.frames, settings.features_batch_size).features
        b = score([s.times[i] for i in baseline_k10(every)], scenes, spans)
        ours.append(a)
        base.append(b)
        rows.append({"video": path.name, "model": label, "frames": len(s.frames), **{f"ours_{k}": v for k, v in a.items()},
                     **{f"base_{k}": v for k, v in b.items()}})
    mean = lambda xs, key: float(np.mean([x[key] for x in xs]))  # noqa: E731
    summary = {"model": label, "videos": len(cases), "seconds": time.monotonic() - started,
               **{f"ours_{k}": mean(ours, k) for k in ("p", "r", "f1", "err")},
               **{f"base_{k}": mean(base, k) for k in ("p", "r", "f1", "err")}}
    return summary, rows


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--models", type=Path, default=here.parent / "shared" / "models")
    ap.add_argument("--n", type=int, default=24, help="number of spliced test videos")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, help="write the results table (markdown) here")
    ap.add_argument("--skip-random", action="store_true", help="skip the slow random-weight InceptionV3 run")
    args = ap.parse_args()
    if not (args.videos / "videos.csv").exists():
        sys.exit(f"no clips at {args.videos}; pass --videos")
    rng = np.random.default_rng(args.seed)
    pool = scene_pool(args.videos)
    tmp = Path(tempfile.mkdtemp(prefix="organizer-kf-"))
    cases = []
    for i in range(args.n):
        path = tmp / f"case{i:02d}-{'moving' if i % 2 else 'stills'}.mp4"
        scenes, spans = make_case(pool, rng, path, moving=bool(i % 2))
        cases.append((path, scenes, spans))
    runs = [(Settings(features_model=str(args.models / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")),
             "MobileNet v1 (ImageNet, TFLite)")]
    if not args.skip_random:
        runs.append((Settings(features_weights="random"), "InceptionV3, random weights"))
    summaries, all_rows = [], []
    for settings, label in runs:
        summary, rows = evaluate(settings, cases, label)
        summaries.append(summary)
        all_rows += rows
        print(f"{label}: ours F1 {summary['ours_f1']:.3f} err {summary['ours_err']:.2f} | "
              f"baseline F1 {summary['base_f1']:.3f} err {summary['base_err']:.2f}")
    if args.out:
        lines = ["| feature model | method | precision | recall | F1 | mean abs(keyframes - scenes) |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for s in summaries:
            lines.append(f"| {s['model']} | organizer | {s['ours_p']:.3f} | {s['ours_r']:.3f} | {s['ours_f1']:.3f} "
                         f"| {s['ours_err']:.2f} |")
            lines.append(f"| {s['model']} | seed: KMeans k=10, nearest frame | {s['base_p']:.3f} | {s['base_r']:.3f} "
                         f"| {s['base_f1']:.3f} | {s['base_err']:.2f} |")
        lines += ["", "Per video (organizer / baseline):", "",
                  "| video | model | frames | scenes | keyframes | F1 | baseline keyframes | baseline F1 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in all_rows:
            lines.append(f"| {r['video']} | {r['model']} | {r['frames']} | {r['ours_m']} | {r['ours_k']} | "
                         f"{r['ours_f1']:.2f} | {r['base_k']} | {r['base_f1']:.2f} |")
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
