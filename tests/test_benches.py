"""The benchmarks are how speed and quality are checked (docs/BENCHMARKS.md); one that no longer runs against the
code it measures is a figure nobody can reproduce. Each script must at least start (`--help`), and the one that
needs no material runs whole on a small input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in {"clips.py", "machine.py"})


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_script_starts(script):
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()


def test_the_timeline_bench_runs_against_the_code(tmp_path):
    """It once passed tuples where grouping.timeline.compare takes Timelines, and failed at its first pair."""
    done = subprocess.run([sys.executable, str(BENCH / "bench_timeline.py"), "--videos", str(tmp_path / "none"),
                           "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(" ms |") == 5
