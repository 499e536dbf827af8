"""The plan on the shared clips, compared with a stored golden manifest: refactoring may not change a single move.

Regenerate (only when a change in behaviour is intended, and say so in the commit): python -m tests.test_golden
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .conftest import VIDEOS, fast_settings, needs_models, needs_videos

GOLDEN = Path(__file__).resolve().parent / "golden" / "shared_plan.json"
# Fields of a machine and a checkout (where ../shared lies, its inodes and mtimes, when the plan was made) are left
# out; every decision the plan holds is kept.
KEPT_MOVE = ("src", "dst", "cluster", "size", "fingerprint", "distance")
RUNS = {"auto": {}, "fourteen": {"clusters": "14"}}


def current_plan(run: str) -> dict:
    from organizer.pipeline import ResolvedRun, organize
    from organizer.store.state import LibraryState

    with LibraryState.memory() as state:
        planned = organize(VIDEOS, ResolvedRun.of(fast_settings(**RUNS[run])), state=state, thumbnails=False)
    data = json.loads(planned.plan.to_json())
    settings = {**data["settings"], "features.model": Path(data["settings"]["features.model"]).name}
    return {"mode": data["mode"], "settings": settings, "clusters": data["clusters"],
            "skipped": data["skipped"], "in_place": data["in_place"],
            "moves": [{k: m[k] for k in KEPT_MOVE} for m in data["moves"]]}


def _without_distances(plan: dict) -> dict:
    return {**plan, "moves": [{k: v for k, v in m.items() if k != "distance"} for m in plan["moves"]]}


@needs_videos
@needs_models
@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_plan_on_the_shared_clips_is_the_golden_one(run):
    golden = json.loads(GOLDEN.read_text())[run]
    now = current_plan(run)
    assert _without_distances(now) == _without_distances(golden)
    # Distances are float32 sums whose last digits differ between CPUs (AVX2 or AVX-512 kernels); decisions do not.
    assert [m["distance"] for m in now["moves"]] == pytest.approx([m["distance"] for m in golden["moves"]], abs=1e-3)


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({run: current_plan(run) for run in sorted(RUNS)}, indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
