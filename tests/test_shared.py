"""The shared clips and models: present where they must be (CI), so that no real-data test silently skips."""

from __future__ import annotations

import csv

import pytest

from .conftest import LABELS, MNV1, MNV2, REQUIRE_SHARED, VIDEOS


@pytest.mark.skipif(not REQUIRE_SHARED, reason="ORGANIZER_REQUIRE_SHARED is not set (no ../shared expected)")
def test_every_shared_clip_and_model_is_present():
    missing = [str(p) for p in (MNV1, MNV2, LABELS, VIDEOS / "videos.csv") if not p.exists()]
    if (VIDEOS / "videos.csv").exists():
        with open(VIDEOS / "videos.csv", newline="") as fh:
            missing += [row["file"] for row in csv.DictReader(fh) if not (VIDEOS / row["file"]).exists()]
    assert missing == [], "missing from ../shared: " + ", ".join(missing)
