"""The CLI end to end, in process (CliRunner), on generated videos and on the real clips."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from organizer.cli import COMMANDS, main
from organizer.layout import Layout
from organizer.library import library_lock

from .conftest import MNV1, VIDEOS, needs_models, needs_videos, tree, write_video

MODEL = ["--model", str(MNV1), "--settle-seconds", "0"]


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture
def library(tmp_path):
    """Three groups of two videos each (same scenes, different order/noise), plus bad files."""
    root = tmp_path / "lib"
    groups = {"red": [1, 2], "green": [3, 4], "blue": [5, 6]}
    for i, (name, scenes) in enumerate(groups.items()):
        write_video(root / f"{name}-a.mp4", scenes, seconds_each=2.0, seed=i)
        write_video(root / "sub" / f"{name}-b.mp4", scenes[::-1], seconds_each=2.0, seed=10 + i)
    (root / "empty.mp4").write_bytes(b"")
    (root / "fake.mp4").write_bytes(b"not a video" * 100)
    (root / "clip.mp4.part").write_bytes(b"partial")
    return root


def test_every_command_has_help():
    for cmd in COMMANDS:
        result = invoke(cmd, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "Exit codes" in invoke("--help").output
    assert invoke("--version").output.startswith("organize, version")


@needs_models
def test_dry_run_leaves_the_library_byte_identical(library):
    before = tree(library)
    result = invoke(library, "--clusters", "3", "--dry-run", "--json", *MODEL)
    assert result.exit_code == 0, result.output
    assert tree(library) == before
    summary = json.loads(result.output)
    manifest = json.loads(Path(summary["manifest"]).read_text())
    assert manifest["version"] == 1 and manifest["root"] == str(library)
    assert {s["path"] for s in manifest["skipped"]} == {"empty.mp4", "fake.mp4"}
    assert all(s["reason"] for s in manifest["skipped"])
    assert [d["path"] for d in summary["downloading"]] == ["clip.mp4.part"]
    assert sorted(c["size"] for c in manifest["clusters"]) == [2, 2, 2]
    # each generated pair lands together
    by_cluster = {}
    for m in manifest["moves"]:
        by_cluster.setdefault(m["cluster"], set()).add(Path(m["src"]).name.split("-")[0])
    assert sorted(len(v) for v in by_cluster.values()) == [1, 1, 1]


@needs_models
def test_apply_moves_every_file_with_identical_bytes_and_undo_restores(library):
    before = tree(library)
    result = invoke(library, "--clusters", "3", "--dry-run", "--json", *MODEL)
    manifest = json.loads(result.output)["manifest"]
    applied = invoke("apply", manifest, "--json")
    assert applied.exit_code == 0, applied.output
    data = json.loads(applied.output)
    assert data["moved"] == 6 and data["errors"] == []
    after = tree(library)
    moved = {k: v for k, v in after.items() if k.startswith("cluster-")}
    assert sorted(moved.values()) == sorted(v for k, v in before.items() if k.endswith("-a.mp4") or
                                            k.endswith("-b.mp4"))
    assert "empty.mp4" in after and "fake.mp4" in after and "clip.mp4.part" in after   # bad files stay
    # a second run plans nothing: output inside input is safe to run twice
    again = json.loads(invoke(library, "--clusters", "3", "--dry-run", "--json", *MODEL).output)
    assert again["planned"] == 0 and again["in_place"] == 6
    runs = invoke("runs", library)
    assert "apply" in runs.output and "complete" in runs.output
    undone = invoke("undo", library)
    assert undone.exit_code == 0 and "Moved back 6" in undone.output
    assert tree(library) == before


@needs_models
def test_run_without_dry_run_applies_and_keyframes_dir(library, tmp_path):
    out = tmp_path / "stills"
    result = invoke(library, "--clusters", "2", "--keyframes-dir", out, "-q", *MODEL)
    assert result.exit_code == 0, result.output
    assert len([p for p in library.glob("cluster-*/*.mp4")]) == 6
    meta = json.loads((out / "red-a" / "keyframes.json").read_text())
    assert len(meta["keyframes"]) == 2 and all((out / "red-a" / k["file"]).exists() for k in meta["keyframes"])


@needs_models
def test_keyframes_command_exports_and_reports_bad_videos(tmp_path):
    video = write_video(tmp_path / "v.mp4", [1, 2, 1, 3], seconds_each=1.5)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nope" * 50)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["keyframes", str(bad), str(video), "-o", str(out), "--model", str(MNV1),
                                       "--sample-fps", "2"])
    assert result.exit_code == 1
    assert "bad.mp4" in result.output and "cannot be opened" in result.output
    meta = json.loads((out / "v" / "keyframes.json").read_text())
    assert meta["video"] == "v.mp4" and meta["duration"] == pytest.approx(6.0, abs=0.2)
    assert len(meta["keyframes"]) == 3
    for k in meta["keyframes"]:
        assert k["file"] == f"{k['time']:08.3f}s.jpg" and (out / "v" / k["file"]).stat().st_size > 500
        assert k["sharpness"] > 0


@needs_models
def test_nothing_processable_exits_4(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"junk" * 100)
    result = invoke(tmp_path, "--dry-run", *MODEL)
    assert result.exit_code == 4 and "None of the 1 video(s)" in result.output


def test_empty_library_is_fine(tmp_path):
    result = invoke(tmp_path, "--dry-run", "--json", "--weights", "random")
    assert result.exit_code == 0 and json.loads(result.output)["videos"] == 0


def test_locked_library_exits_3_and_changes_nothing(library):
    before = tree(library)
    with library_lock(Layout.of(library)):
        result = invoke(library, "--dry-run", *MODEL)
    assert result.exit_code == 3 and "Another organize run" in result.output
    assert tree(library) == before


def test_offline_imagenet_message_without_traceback(tmp_path, monkeypatch):
    from organizer.features import inception
    write_video(tmp_path / "a.mp4", [1], seconds_each=1.0)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(inception, "_online", lambda *a, **k: False)
    result = invoke(tmp_path, "--dry-run", "--settle-seconds", "0")
    assert result.exit_code == 1
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in result.output
    assert "Traceback" not in result.output


def test_bad_option_values_are_usage_errors_named_by_their_flag(tmp_path):
    """The README: a bad value for an option exits 2, like an unknown option; the message names the flag."""
    for args, said in ((["--clusters", "abc"], "--clusters must be a positive whole number or 'auto', not 'abc'"),
                       (["--max-distance", "3"], "--max-distance must be between 0 and 2, not 3.0"),
                       (["--workers", "0"], "--workers")):
        result = invoke(tmp_path, *args)
        assert result.exit_code == 2 and said in result.output, result.output
        assert "placement.max_distance" not in result.output
    assert invoke(tmp_path, "--bogus").exit_code == 2


def test_every_bad_value_of_a_settings_file_is_named_with_its_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[sampling]\nmax_frames = true\nfps = -1\n[placement]\nmax_distance = 9\n")
    result = invoke(tmp_path, "--config", config, "--dry-run")
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    for said in (f"Setting sampling.max_frames in {config} must be a whole number, not true",
                 f"Setting sampling.fps in {config} must be between", f"Setting placement.max_distance in {config}"):
        assert said in out, out
    assert "does not exist" in invoke(tmp_path / "missing").output


def test_apply_rejects_an_unsafe_manifest(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"version": 1, "root": str(tmp_path), "dest": str(tmp_path), "moves": [
        {"src": "../x.mp4", "dst": "c/x.mp4", "cluster": "c", "size": 1, "mtime_ns": 1}]}))
    result = invoke("apply", bad)
    assert result.exit_code == 1 and "Unsafe path" in result.output


@pytest.mark.slow
def test_random_inception_end_to_end(library):
    result = invoke(library, "--clusters", "3", "--dry-run", "--json", "--weights", "random", "--settle-seconds", "0")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["videos"] == 6 and summary["backend"].startswith("inceptionv3")
    assert len(summary["clusters"]) == 3


@needs_videos
@needs_models
@pytest.mark.slow
def test_real_clips_all_placed_and_grouped(tmp_path):
    """Every real clip is placed and the known groups mostly hold (copies live in tmp, never in the repo)."""
    import csv
    root = tmp_path / "lib"
    root.mkdir()
    groups = {}
    old = time.time() - 3600
    with open(VIDEOS / "videos.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            copy = root / row["file"]
            copy.write_bytes((VIDEOS / row["file"]).read_bytes())
            os.utime(copy, (old, old))
            groups[row["file"]] = row["group"]
    (root / "truncated.mp4").write_bytes((VIDEOS / "moviepy__chaplin.mp4").read_bytes()[:50_000])
    result = invoke(root, "--clusters", "14", "--dry-run", "--json", *MODEL)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    manifest = json.loads(Path(summary["manifest"]).read_text())
    assert summary["videos"] == 29
    assert {m["src"] for m in manifest["moves"]} == set(groups)
    assert [s["path"] for s in manifest["skipped"]] == ["truncated.mp4"]
    from sklearn.metrics import adjusted_rand_score
    names = sorted(groups)
    cluster_of = {m["src"]: m["cluster"] for m in manifest["moves"]}
    truth = [groups[n] if groups[n] != "-" else n for n in names]
    ari = adjusted_rand_score(truth, [cluster_of[n] for n in names])
    assert ari > 0.5, f"real clips grouped poorly: ARI {ari:.2f}"


@needs_models
def test_repeated_frames_skip_the_model_and_are_counted(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "still.mp4", [7], seconds_each=6.0)            # one picture for six seconds
    write_video(root / "busy.mp4", [1, 2, 3, 4, 5, 6], seconds_each=1.0)
    result = invoke(root, "--dry-run", "--json", "--clusters", "1", *MODEL)
    summary = json.loads(result.stdout)
    assert summary["frames"] == 12 and summary["frames_reused"] == 5
    result = invoke(root, "--dry-run", "--json", "--clusters", "1", "--config", _config(tmp_path, 0), *MODEL)
    summary = json.loads(result.stdout)
    assert summary["frames_reused"] == 5, "the cascade alone: the still video is one shot, one frame to the model"
    result = invoke(root, "--dry-run", "--json", "--clusters", "1", "--config", _config(tmp_path, 0, False), *MODEL)
    summary = json.loads(result.stdout)
    assert summary["frames"] == 12 and summary["frames_reused"] == 0, "no cascade, no pre-filter: every frame"


def _config(tmp_path, reuse: float, cascade: bool = True) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f"[features]\nreuse_below = {reuse}\ncascade = {str(cascade).lower()}\n")
    return path


def test_recluster_with_dest_outside_is_refused_before_any_analysis(library, tmp_path, this_process):
    result = invoke(library, "--recluster", "--dest", tmp_path / "elsewhere", "--dry-run", *MODEL)
    assert result.exit_code == 1 and "--recluster needs the cluster folders inside PATH" in result.output
    assert this_process["children"] == 0, "nothing may be analysed before the arguments are checked"
    assert invoke(library, "--dry-run", "--clusters", "1", *MODEL).exit_code == 0
    assert this_process["children"] >= 1, "the count sees a run that does analyse"


@needs_models
def test_keyframes_reports_any_failing_video_and_exports_the_others(tmp_path, monkeypatch):
    from organizer.engine.workers import FAULT_ENV
    good = write_video(tmp_path / "good.mp4", [1, 2], seconds_each=1.5)
    odd = write_video(tmp_path / "odd.mp4", [3, 4], seconds_each=1.5)
    monkeypatch.setenv(FAULT_ENV, "abort:odd.mp4")
    result = invoke("keyframes", odd, good, "-o", tmp_path / "out", "--model", MNV1, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [w["video"] for w in data["written"]] == [str(good)]
    assert "the video decoder crashed on this file (an abort)" in data["failed"][0]["reason"]


@needs_models
def test_progress_counts_each_video_analysed(library, recording_progress):
    from organizer.library import Library, RunOptions
    from .conftest import fast_settings
    with Library.open(library) as lib:
        report = lib.run(fast_settings(clusters="3"), RunOptions(dry_run=False), recording_progress)
    calls = recording_progress.calls
    phases = [c[1].split()[0] for c in calls if c[0] == "phase"]
    assert phases == ["scanning", "starting", "clustering", "moving"], calls
    assert ("start", 8) in calls                              # six videos, the empty and the fake one
    assert calls.index(("start", 8)) > calls.index(("phase", "starting workers and loading the model for 8 videos"))
    assert sorted(recording_progress.advanced) == sorted(
        ["empty.mp4", "fake.mp4", "red-a.mp4", "green-a.mp4", "blue-a.mp4",
         "sub/red-b.mp4", "sub/green-b.mp4", "sub/blue-b.mp4"])
    assert ("finish",) in calls and report.videos == 6


def test_no_bar_starts_before_the_model_is_known_to_load(library, recording_progress, tmp_path):
    from organizer.errors import OrganizerError
    from organizer.library import Library, RunOptions
    from .conftest import fast_settings
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model at all" * 100)
    with Library.open(library) as lib, pytest.raises(OrganizerError, match="not a usable TFLite model"):
        lib.run(fast_settings(features_model=str(broken)), RunOptions(dry_run=True), recording_progress)
    assert not any(c[0] == "start" for c in recording_progress.calls), recording_progress.calls


def test_the_progress_display_leaves_out_columns_on_a_narrow_terminal():
    from rich.progress import TimeRemainingColumn

    from organizer.cli.output import RichProgress
    wide, narrow = RichProgress("Analysing videos", width=120), RichProgress("Analysing videos", width=80)
    assert any(isinstance(c, TimeRemainingColumn) for c in wide.columns)
    assert not any(isinstance(c, TimeRemainingColumn) for c in narrow.columns) and len(narrow.columns) == 4


def test_keyframes_are_reported_in_the_order_the_videos_were_named(tmp_path):
    """Workers finish in any order; the export is told in the order of the arguments (a missing one in its place)."""
    from organizer.config import Settings
    from organizer.outputs.export import export_videos
    from organizer.engine.workers import Outcome

    class Backwards:
        def run(self, jobs):
            for job in reversed(list(jobs)):
                yield Outcome(job, failure=f"{os.path.basename(job.path)} was read last-first")
    for name in ("c.mp4", "a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    named = [tmp_path / "c.mp4", tmp_path / "gone.mp4", tmp_path / "a.mp4", tmp_path / "b.mp4"]
    told = [os.path.basename(e.video) for e in export_videos(named, Settings(), tmp_path / "out", Backwards())]
    assert told == ["c.mp4", "gone.mp4", "a.mp4", "b.mp4"]
