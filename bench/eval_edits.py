"""Keyframes on edited videos: score organize's keyframes against the truth bench/make_edits.py wrote.

    python bench/make_edits.py /tmp/edits
    python bench/eval_edits.py /tmp/edits [--models ../shared/models] [--random] [--no-cascade] [--per-video]

For every video: organize's analysis with its defaults (1 frame/s), then the score of its keyframes. A keyframe
hits the scene on screen at its time; one inside a transition, flash, leader or fade-out hits nothing. precision =
distinct scenes hit / keyframes, recall = distinct scenes hit / scenes, F1, and the count error |keyframes -
scenes|. Also counted: keyframes inside transitions, scenes with two keyframes (a return kept twice), scenes
missed, and the frames that went through the CNN. Next to it, the first seed document's method on the same
frames: KMeans with k=10 over every sampled frame's features, the frame nearest each centre.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

from organizer.analysis.video import AnalysisParams, analyse_frames, sample  # noqa: E402
from organizer.config import Settings  # noqa: E402
from organizer.features import FeatureSpec, embed_frames, load_backend  # noqa: E402


def label_at(spans, frame: int) -> str:
    for a, b, label in spans:
        if a <= frame < b:
            return label
    return spans[-1][2]


def score(times, spans, scenes, fps) -> dict:
    labels = [label_at(spans, round(t * fps)) for t in times]
    on_scene = [x for x in labels if x.isdigit()]
    hit = set(on_scene)
    k, m = len(times), len(scenes)
    p = len(hit) / k if k else 0.0
    r = len(hit) / m
    return {"p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "err": abs(k - m),
            "inside": len(labels) - len(on_scene), "twice": len(on_scene) - len(hit), "missed": m - len(hit)}


def seed_keyframes(features: np.ndarray) -> list[int]:
    from sklearn.cluster import KMeans

    k = min(10, len(features))
    km = KMeans(k, n_init=10, random_state=0).fit(features)
    return sorted({int(np.argmin(((features - c) ** 2).sum(1))) for c in km.cluster_centers_})


def evaluate(folder: Path, truth: dict, settings: Settings, with_seed: bool) -> list[dict]:
    params = AnalysisParams.from_settings(settings)
    backend = load_backend(FeatureSpec.from_settings(settings))
    rows = []
    for name, video in sorted(truth["videos"].items()):
        sampled = sample(str(folder / name), params)
        started = time.perf_counter()
        analysis = analyse_frames(sampled, params, backend)
        row = {"video": name, "set": video["kind"], "frames": analysis.n_frames, "cnn": analysis.cnn_frames,
               "seconds": time.perf_counter() - started,
               **score(analysis.keyframes.times, video["spans"], video["scenes"], truth["fps"])}
        if with_seed:
            every = embed_frames(backend, sampled.frames, 32).features
            chosen = seed_keyframes(every)
            row["seed"] = score([sampled.times[i] for i in chosen], video["spans"], video["scenes"], truth["fps"])
        rows.append(row)
    return rows


def table(rows: list[dict], label: str) -> list[str]:
    by_set = defaultdict(list)
    for r in rows:
        by_set[r["set"]].append(r)
    by_set["all"] = rows
    out = []
    for kind, rs in by_set.items():
        mean = lambda key, src=None: float(np.mean([(r[src] if src else r)[key] for r in rs]))  # noqa: E731
        line = (f"| {label} | {kind} | {len(rs)} | {mean('p'):.3f} | {mean('r'):.3f} | **{mean('f1'):.3f}** | "
                f"{mean('err'):.2f} | {sum(r['inside'] for r in rs)} | {sum(r['twice'] for r in rs)} | "
                f"{sum(r['missed'] for r in rs)} | {mean('frames'):.1f} / {mean('cnn'):.1f} |")
        if "seed" in rs[0]:
            line += f" {mean('f1', 'seed'):.3f} / {mean('err', 'seed'):.2f} |"
        out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--models", type=Path, default=HERE.parent.parent / "shared" / "models")
    ap.add_argument("--random", action="store_true", help="also InceptionV3 with random weights (slow)")
    ap.add_argument("--mobilenet-v2", action="store_true", help="also the MobileNet v2 classifier")
    ap.add_argument("--no-cascade", action="store_true",
                    help="also every frame through the CNN (no cascade, no near-duplicate pre-filter)")
    ap.add_argument("--no-seed", action="store_true", help="skip the seed method")
    ap.add_argument("--per-video", action="store_true")
    args = ap.parse_args()
    truth = json.loads((args.folder / "truth.json").read_text())
    runs = [("MobileNet v1", {"features_model": str(args.models / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")})]
    if args.mobilenet_v2:
        runs.append(("MobileNet v2", {"features_model": str(args.models / "mobilenet_v2_1.0_224_quant.tflite")}))
    if args.random:
        runs.append(("InceptionV3 random", {"features_weights": "random"}))
    cascades = [True, False] if args.no_cascade else [True]
    print(f"machine: {describe()}")
    print("| model | set | videos | precision | recall | F1 | count error | keyframes in transitions | "
          "scenes kept twice | scenes missed | frames / through the CNN |" + ("" if args.no_seed else
                                                                               " seed method F1 / count error |"))
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |" + ("" if args.no_seed else " --- |"))
    for label, overrides in runs:
        for cascade in cascades:
            settings = Settings(**overrides) if cascade else Settings(**overrides, features_cascade=False,
                                                                      features_reuse_below=0.0)
            rows = evaluate(args.folder, truth, settings, not args.no_seed and cascade)
            for line in table(rows, label + ("" if cascade else ", every frame")):
                print(line, flush=True)
            if args.per_video:
                for r in rows:
                    print(f"    {r['video']}: F1 {r['f1']:.2f} err {r['err']} inside {r['inside']} twice {r['twice']} "
                          f"missed {r['missed']} frames {r['frames']} cnn {r['cnn']}")


if __name__ == "__main__":
    main()
