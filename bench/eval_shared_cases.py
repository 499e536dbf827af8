"""The three shared clips whose keyframes a new user questioned (issues 24 and 26), as figures:

    python bench/eval_shared_cases.py [--videos ../shared/videos] [--models ../shared/models]

- the Sintel trailer's snowy pan (2.5-6.5 s of moviepy__second_vid.mp4): keyframes inside it, and how alike the
  closest two are (feature cosine, thumbnail difference);
- the cockatoo (imageio__cockatoo.mp4): each keyframe's sharpness against the clip's sharpest sampled frame, and
  its brightness;
- the office (intel__one-by-one-person-detection.mp4, 139 s, a fixed camera, people walking through one at a
  time): keyframes, and how far apart in features they are.
Defaults as organize runs them, MobileNet v1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

from organizer.analysis.keyframes import measure  # noqa: E402
from organizer.analysis.video import AnalysisParams, analyse_frames, sample  # noqa: E402
from organizer.config import Settings  # noqa: E402
from organizer.features import FeatureSpec, embed_frames, load_backend  # noqa: E402
from organizer.vectors import l2n  # noqa: E402

CASES = (("Sintel snowy pan", "moviepy__second_vid.mp4", (2.0, 7.0)),
         ("cockatoo", "imageio__cockatoo.mp4", None),
         ("office, 139 s", "intel__one-by-one-person-detection.mp4", None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "videos")
    ap.add_argument("--models", type=Path, default=HERE.parent.parent / "shared" / "models")
    args = ap.parse_args()
    settings = Settings(features_model=str(args.models / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"))
    params = AnalysisParams.from_settings(settings)
    backend = load_backend(FeatureSpec.from_settings(settings))
    print(f"machine: {describe()}")
    print("| case | keyframes (s) | in the range | closest pair: cosine / thumbnail difference | sharpness / clip's "
          "sharpest | mean luma |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, name, window in CASES:
        sampled = sample(str(args.videos / name), params)
        analysis = analyse_frames(sampled, params, backend)
        idx = list(analysis.keyframes.indices)
        q = measure(list(sampled.frames))
        feats = l2n(embed_frames(backend, [sampled.frames[i] for i in idx], 32).features)
        inside = [k for k, i in enumerate(idx) if window is None or window[0] <= sampled.times[i] <= window[1]]
        pair = "-"
        if len(inside) > 1:
            cos = feats[inside] @ feats[inside].T
            np.fill_diagonal(cos, -1)
            a, b = np.unravel_index(int(np.argmax(cos)), cos.shape)
            pair = f"{cos[a, b]:.2f} / {q.mad[idx[inside[a]], idx[inside[b]]]:.3f}"
        sharp = "; ".join(f"{q.sharpness[i] / q.sharpness.max():.2f}" for i in idx)
        luma = "; ".join(f"{q.luminance[i]:.0f}" for i in idx)
        times = ", ".join(f"{sampled.times[i]:.1f}" for i in idx)
        print(f"| {label} | {times} | {len(inside)} | {pair} | {sharp} | {luma} |", flush=True)


if __name__ == "__main__":
    main()
