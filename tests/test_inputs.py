"""No input hangs or raises a traceback (issue 22, classes 5, 6, 8, 9 and 11): every path the user gives, as a FIFO,
a socket, a symbolic link loop, a folder or a file in the wrong encoding; deep nesting; manifests aimed at
.organizer; export names; a busy state database; sentences that must not mislead."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from organizer.store import state as state_module
from organizer.cli import main
from organizer.layout import Layout
from organizer.scan import scan
from organizer.moves.undo import list_runs

from .conftest import LABELS, MNV1, MNV2, needs_models, write_video
from .moverkit import files, make_library, make_plan

MODEL = ["--model", str(MNV1), "--settle-seconds", "0"]


class Hung(BaseException):
    """Raised by the alarm: not an OSError (TimeoutError is one, and the code under test would turn it into a
    tidy sentence), not even an Exception, so nothing on the way can catch it."""


def invoke(*args, seconds: int = 60):
    """The CLI in this process, failing (not hanging) if it waits longer than `seconds`."""
    def hung(*_):
        raise Hung(f"organize {' '.join(map(str, args))} hung for {seconds} s")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def odd_paths(tmp_path):
    """A FIFO, a socket, a symbolic link loop, a folder and a Latin-1 file: what a path input may turn out to be."""
    odd = tmp_path / "odd"
    odd.mkdir()
    os.mkfifo(odd / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(odd / "socket"))
    os.symlink("loop", odd / "loop")
    (odd / "folder").mkdir()
    (odd / "latin1").write_bytes("seed = 1\n# caf\u00e9 au lait\n".encode("latin-1"))
    yield {name: odd / name for name in ("fifo", "socket", "loop", "folder", "latin1")}
    sock.close()


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "a.mp4", [1, 2], seconds_each=1.0)
    write_video(root / "b.mp4", [3, 4], seconds_each=1.0, seed=1)
    return root


@pytest.mark.parametrize("kind", ["fifo", "socket", "loop", "folder", "latin1"])
@pytest.mark.parametrize("option", ["--config", "--model", "--weights", "--labels"])
def test_every_path_option_given_something_odd_gets_a_sentence(library, odd_paths, option, kind):
    args = [library, "--dry-run", option, odd_paths[kind]] + (["--model", MNV2] if option == "--labels" else [])
    result = invoke(*args)
    assert result.exit_code in (1, 2), result.output
    said = result.output.lower()
    assert str(odd_paths[kind].name) in said and any(w in said for w in (
        "fifo", "socket", "loop", "folder", "directory", "utf-8", "not a regular file", "cannot be read",
        "not a usable", "weights")), said         # a model or weights file is binary: for it, "latin1" is just junk
    assert not (library / ".organizer" / "journal").exists()


@pytest.mark.parametrize("kind", ["fifo", "socket", "loop", "folder", "latin1"])
def test_a_manifest_path_that_is_not_a_manifest_gets_a_sentence(odd_paths, kind):
    result = invoke("apply", odd_paths[kind])
    assert result.exit_code == 1 and odd_paths[kind].name in result.output


def test_deeply_nested_settings_and_manifests_are_refused_in_a_sentence(tmp_path):
    config, manifest = tmp_path / "deep.toml", tmp_path / "deep.json"
    config.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    manifest.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in invoke("config", "--config", config).output
    result = invoke("apply", manifest)
    assert result.exit_code == 1 and "nested far too deeply" in result.output


def test_a_log_in_a_folder_that_does_not_exist_yet_is_created(library, tmp_path):
    """The README's cron line on a fresh home: ~/.cache does not exist on the first night."""
    log = tmp_path / "home" / ".cache" / "organize.log"
    result = invoke(library, "--dry-run", "-q", "--log", log, *MODEL)
    assert result.exit_code == 0 and log.is_file() and "run " in log.read_text()


@needs_models
def test_a_bad_labels_file_is_caught_when_every_analysis_comes_from_the_cache(library, tmp_path):
    assert invoke(library, "--dry-run", "--model", MNV2, "--labels", LABELS, "--settle-seconds", "0").exit_code == 0
    short = tmp_path / "short.txt"
    short.write_text("\n".join(LABELS.read_text().splitlines()[:10]) + "\n")
    latin = tmp_path / "latin.txt"
    latin.write_bytes(LABELS.read_bytes().replace(b"tench", "t\u00e9nch".encode("latin-1")))
    for labels, said, code in ((short, "has 10 lines but the model gives 1001 scores", 1), (latin, "not UTF-8", 1),
                               (tmp_path / "missing.txt", "--labels: the file", 2)):
        result = invoke(library, "--dry-run", "--model", MNV2, "--labels", labels, "--settle-seconds", "0")
        assert result.exit_code == code and said in result.output, result.output


@pytest.mark.slow
def test_a_folder_tree_nested_1100_deep_is_walked(tmp_path):
    root = tmp_path / "lib"
    deep = root
    root.mkdir()
    for _ in range(1100):                   # pathlib's and os's makedirs recurse: one folder at a time
        deep = deep / "d"
        os.mkdir(deep)
    (deep / "clip.mp4").write_bytes(b"not really a video")
    os.utime(deep / "clip.mp4", (1e9, 1e9))
    try:
        found = scan(root, settle_seconds=0)
        assert [v.rel.count("/") for v in found.videos] == [1100]
        result = invoke(root, "--dry-run", *MODEL)
        assert result.exit_code == 4 and "could be processed" in result.output
    finally:                                # pytest's own clean-up recurses too: take the tree down here
        (deep / "clip.mp4").unlink()
        while deep != root:
            os.rmdir(deep)
            deep = deep.parent


def test_keyframes_of_a_video_deleted_after_its_analysis_are_still_exported(library, tmp_path, monkeypatch):
    import organizer.outputs.export as export
    real = export.export_analysed

    def delete_first(items, out_dir, executor):
        os.unlink(items[0][0])
        return real(items, out_dir, executor)
    monkeypatch.setattr(export, "export_analysed", delete_first)
    out = tmp_path / "stills"
    result = invoke(library, "--dry-run", "--keyframes-dir", out, *MODEL)
    assert result.exit_code == 0, result.output
    assert sorted(p.parent.name for p in out.glob("*/keyframes.json")) == ["a", "b"]
    assert list((out / "a").glob("*.jpg")), "the cached thumbnails stand in for the deleted file's frames"


def test_a_video_named_dot_dot_exports_inside_out(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "...mp4", [1, 2], seconds_each=1.0)
    out = tmp_path / "box" / "out"
    result = invoke("keyframes", root / "...mp4", "-o", out, *MODEL[:2])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "box" / "keyframes.json").exists(), "nothing may be written into OUT's parent"
    written = [p.relative_to(out).parts for p in out.rglob("keyframes.json")]
    assert len(written) == 1 and written[0][0] not in ("..", ".", "")


def test_undo_with_its_dest_gone_says_so_and_leaves_no_interrupted_run(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "usb"
    make_library(root, [b"a.mp4", b"b.mp4"], [10, 20])
    manifest = tmp_path / "plan.json"
    manifest.write_text(make_plan(root, dest).to_json())
    assert invoke("apply", manifest).exit_code == 0
    os.rename(dest, tmp_path / "unplugged")
    result = invoke("undo", root)
    assert result.exit_code == 1 and f"Undo needs the folder {dest}" in result.output
    assert [r.kind for r in list_runs(Layout.of(root))] == ["apply"]
    os.rename(tmp_path / "unplugged", dest)
    assert invoke("undo", root).exit_code == 0 and sorted(os.listdir(root)) == [".organizer", "a.mp4", "b.mp4"]


def test_undo_after_the_library_was_renamed(tmp_path):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [10, 20])
    before = files(root)
    manifest = tmp_path / "plan.json"
    manifest.write_text(make_plan(root, root).to_json())
    assert invoke("apply", manifest).exit_code == 0
    os.rename(root, tmp_path / "Videos")
    result = invoke("undo", tmp_path / "Videos")
    assert result.exit_code == 0, result.output
    assert {os.path.basename(p): v for p, v in files(tmp_path / "Videos").items() if b"cluster-0" not in p} == {
        os.path.basename(p): v for p, v in before.items()}


# ------------------------------------------------------------------------------- .organizer is never a target
@pytest.mark.parametrize("how", ["root", "dest", "dest-link"])
def test_a_manifest_aimed_at_a_state_folder_is_refused_before_anything_moves(tmp_path, how):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [10, 20])
    plan = json.loads(make_plan(root, tmp_path / "out").to_json())
    assert invoke("apply", write(tmp_path / "ok.json", plan)).exit_code == 0       # .organizer now exists
    invoke("undo", root)
    state = root / ".organizer"
    before = sorted(p.name for p in state.rglob("*"))
    if how == "root":
        plan["root"] = str(state)
        plan["moves"] = [{**plan["moves"][0], "src": "state.sqlite", "dst": "x/state.sqlite"}]
    elif how == "dest":
        plan["dest"] = str(state / "journal")
    else:
        os.symlink(state, tmp_path / "innocent")
        plan["dest"] = str(tmp_path / "innocent")
    plan["id"] = how
    result = invoke("apply", write(tmp_path / f"{how}.json", plan))
    assert result.exit_code == 1 and "organize's own" in result.output, result.output
    assert sorted(p.name for p in state.rglob("*")) == before and (state / "state.sqlite").is_file()


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------------------------ a busy state database
def test_a_busy_database_stops_the_run_before_any_move_and_is_not_called_damaged(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [10, 20])
    before = files(root)
    manifest = write(tmp_path / "plan.json", json.loads(make_plan(root, tmp_path / "out").to_json()))
    with state_module.LibraryState.open(Layout.of(root).state_dir):
        pass
    monkeypatch.setattr(state_module, "BUSY_SECONDS", 0.3)
    other = sqlite3.connect(Layout.of(root).state_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")                        # a database browser holds a write transaction
    try:
        result = invoke("apply", manifest)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 3 and "is busy" in result.output and "damaged" not in result.output.replace(
        "is not damaged", "")
    assert files(root) == before
    assert invoke("apply", manifest).exit_code == 0


# --------------------------------------------------------------------------------------------- sentences
def test_a_file_with_a_modification_time_far_in_the_future_is_not_downloading(tmp_path):
    root = tmp_path / "lib"
    make_library(root, [b"future.mp4", b"soon.mp4"], [10, 20])
    now = 2_000_000_000.0
    os.utime(root / "future.mp4", (now + 142_043_292, now + 142_043_292))
    os.utime(root / "soon.mp4", (now + 30, now + 30))
    found = scan(root, settle_seconds=600, now=now)
    assert [v.rel for v in found.videos] == ["future.mp4"]
    assert "30 s in the future" in found.downloading[0].reason and "-" not in found.downloading[0].reason
    assert [v.rel for v in scan(root, settle_seconds=0, now=now).videos] == ["future.mp4", "soon.mp4"]


def test_the_apply_line_of_a_dry_run_can_be_pasted_into_a_shell(tmp_path):
    root = tmp_path / "My Videos"
    write_video(root / "a.mp4", [1, 2], seconds_each=1.0)
    write_video(root / "b.mp4", [3, 4], seconds_each=1.0, seed=1)
    result = invoke(root, "--dry-run", "--clusters", "2", *MODEL)
    line = next(ln for ln in result.output.splitlines() if "To apply this plan" in ln)
    command = line.split("To apply this plan: ", 1)[1]
    words = shlex.split(command)
    assert words[:2] == ["organize", "apply"] and Path(words[2]).is_file() and "My Videos" in words[2]


def test_two_edited_manifests_with_one_id_are_two_plans(tmp_path):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [10, 20])
    plan = json.loads(make_plan(root, tmp_path / "out").to_json())
    first = dict(plan, moves=plan["moves"][:1])
    second = dict(plan, moves=plan["moves"][1:])
    assert invoke("apply", write(tmp_path / "1.json", first)).exit_code == 0
    result = invoke("apply", write(tmp_path / "2.json", second))
    assert result.exit_code == 0 and "already applied" not in result.output
    assert not any(p.name in ("a.mp4", "b.mp4") for p in root.iterdir())
    with contextlib.suppress(Exception):
        assert invoke("undo", root).exit_code == 0
    assert sorted(p.name for p in root.iterdir() if p.suffix == ".mp4") == [Path(second["moves"][0]["src"]).name]
