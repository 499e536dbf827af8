"""The shared clips and models: present where they must be (CI), so that no real-data test silently skips."""

from __future__ import annotations

import csv

import pytest

from .conftest import LABELS, MNV1, MNV2, REQUIRE_SHARED, SHARED, VIDEOS


@pytest.mark.skipif(not REQUIRE_SHARED and not SHARED.is_dir(), reason=f"no shared folder at {SHARED}")
def test_every_shared_clip_and_model_is_present():
    """Runs wherever ../shared exists (not only where CI asks for it): a partial copy fails here, by name."""
    missing = [str(p) for p in (MNV1, MNV2, LABELS, VIDEOS / "videos.csv") if not p.exists()]
    if (VIDEOS / "videos.csv").exists():
        with open(VIDEOS / "videos.csv", newline="") as fh:
            missing += [row["file"] for row in csv.DictReader(fh) if not (VIDEOS / row["file"]).exists()]
    assert missing == [], "missing from ../shared: " + ", ".join(missing)
