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
