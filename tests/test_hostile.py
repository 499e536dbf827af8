"""What a hostile file or user tries, end to end: names that drive terminals, outputs aimed at videos, FIFOs and
links swapped in by a second process, edited manifests and state, full disks, enormous frames."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from organizer.moves import fsops
from organizer.cli import main
from organizer.layout import Layout

from .conftest import MNV1, needs_models, write_video
from .moverkit import apply, digests, files, make_library, make_plan

MODEL = ["--model", str(MNV1), "--settle-seconds", "0"]

HOSTILE = [b"bytes_\xff\xfe.mp4", b"esc_\x1b[2J_clear.mp4", b"title_\x1b]0;pwned\x07.mp4", b"new\nline.mp4",
           b"carriage\rreturn.mp4", "rtl_\u202egnp.mp4".encode(), unicodedata.normalize("NFC", "caf\u00e9.mp4").encode(),
           unicodedata.normalize("NFD", "caf\u00e9.mp4").encode(), b"l" * 251 + b".mp4", b"-leading-dash.mp4",
           b"organizer-tmp-1.mp4"]
RAW_CONTROLS = ("\x1b", "\r", "\x07", "\u202e")


def run(*args, env=None):
    result = CliRunner().invoke(main, [a if isinstance(a, (str, bytes)) else str(a) for a in args],
                                catch_exceptions=False, env=env)
    data = None
    if "--json" in args and result.stdout.strip().startswith(("{", "[")):
        data = json.loads(result.stdout)
    return result, data


@pytest.fixture
def hostile_library(tmp_path):
    """A real video under each hostile name (written under a plain name, then renamed: writers choke too), plus
    a hidden file named like our temporary files, which must be left alone."""
    root = tmp_path / "lib"
    root.mkdir()
    for i, name in enumerate(HOSTILE):
        plain = write_video(tmp_path / f"plain{i}.mp4", [1 + i % 3, 4 + i % 3], seconds_each=1.0, seed=i)
        target = os.path.join(os.fsencode(root), name)
        os.rename(plain, target)
        os.utime(target, (time.time() - 3600,) * 2)
    (root / ".organizer-tmp-2.mp4").write_bytes(b"hidden, looks like ours")
    return root


def no_raw_controls(text: str) -> bool:
    return not any(c in text for c in RAW_CONTROLS)


@needs_models
def test_hostile_names_everywhere(hostile_library, tmp_path):
    root = hostile_library
    before = files(root)
    result, data = run(root, "--clusters", "3", "--dry-run", "-v", *MODEL)
    assert result.exit_code == 0, result.output
    assert no_raw_controls(result.output) and "\\x1b" in result.output
    result, data = run(root, "--clusters", "3", "--dry-run", "--json", *MODEL)
    report = Path(data["report"]).read_text(encoding="utf-8")
    assert report.count("<article class='video") == len(HOSTILE) == data["videos"]
    applied = run("apply", data["manifest"])[0]
    assert applied.exit_code == 0 and no_raw_controls(applied.output)
    moved = [p for p in files(root) if b"/cluster-" in p]
    assert len(moved) == len(HOSTILE) and (root / ".organizer-tmp-2.mp4").read_bytes() == b"hidden, looks like ours"
    listing = run("runs", root)[0]
    assert listing.exit_code == 0 and no_raw_controls(listing.output)
    undone = run("undo", root)[0]
    assert undone.exit_code == 0 and no_raw_controls(undone.output)
    assert files(root) == before
    videos = [os.fsdecode(os.path.join(os.fsencode(root), n)) for n in HOSTILE]
    exported = run("keyframes", *videos, "-o", tmp_path / "stills", "--model", MNV1)[0]
    assert exported.exit_code == 0, exported.output
    assert no_raw_controls(exported.output)
    assert len(list((tmp_path / "stills").iterdir())) == len(HOSTILE)


# ---------------------------------------------------------------------------------------- output files
@needs_models
@pytest.mark.parametrize("option", ["--manifest", "--report"])
def test_an_output_path_never_replaces_a_video(tmp_path, option):
    root = tmp_path / "lib"
    video = write_video(root / "clip.mp4", [1, 2], seconds_each=1.0)
    other = write_video(root / "other.mp4", [3, 4], seconds_each=1.0)
    before = video.read_bytes()
    result, data = run(root, "--dry-run", "--json", option, video, *MODEL)
    assert result.exit_code == 1 and "is not an organize" in data["error"] and "left alone" in data["error"]
    assert video.read_bytes() == before and other.exists()
    ours = tmp_path / ("plan.json" if option == "--manifest" else "report.html")
    assert run(root, "--dry-run", "--json", option, ours, *MODEL)[0].exit_code == 0
    assert run(root, "--dry-run", "--json", option, ours, *MODEL)[0].exit_code == 0   # ours: replaced


@needs_models
def test_keyframe_exports_of_videos_with_the_same_stem_get_their_own_folders(tmp_path):
    a = write_video(tmp_path / "a" / "clip.mp4", [1, 2], seconds_each=1.0)
    b = write_video(tmp_path / "b" / "clip.mp4", [3, 4], seconds_each=1.0)
    out = tmp_path / "out"
    (out / "clip").mkdir(parents=True)
    (out / "clip" / "notes.txt").write_text("mine")              # a folder that is not an export of ours
    result = run("keyframes", a, b, "-o", out, "--model", MNV1)[0]
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clip", "clip (2)", "clip (3)"]
    assert (out / "clip" / "notes.txt").read_text() == "mine" and not (out / "clip" / "keyframes.json").exists()
    videos = {json.loads((out / n / "keyframes.json").read_text())["video"] for n in ("clip (2)", "clip (3)")}
    assert videos == {"clip.mp4"}


# ------------------------------------------------------------------------------------------------ FIFOs
def test_a_fifo_swapped_in_after_planning_is_never_waited_on(tmp_path):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [100, 200])
    plan = make_plan(root, tmp_path / "out")
    os.unlink(root / "a.mp4")
    os.mkfifo(root / "a.mp4")
    started = time.monotonic()
    report = apply(plan)
    assert time.monotonic() - started < 10
    assert "no longer a regular file" in dict(report.skipped)["a.mp4"] and report.moved == 1


def test_the_fingerprint_and_the_decoder_refuse_a_fifo_without_blocking(tmp_path):
    from organizer.analysis.decode import sample_video
    from organizer.errors import VideoUnreadable
    from organizer.store.inventory import fingerprint
    os.mkfifo(tmp_path / "x.mp4")
    with pytest.raises(OSError):
        fingerprint(tmp_path / "x.mp4")
    with pytest.raises(VideoUnreadable, match="not a regular file"):
        sample_video(tmp_path / "x.mp4")


# ------------------------------------------------------------------------------- races with a second process
def _flip(folder: str, outside: str, stop) -> None:
    """Swap folder between a real directory and a symbolic link to `outside`, as fast as possible."""
    real, link = folder + ".real", folder + ".link"
    os.symlink(outside, link)
    while not stop.is_set():
        for a, b in ((folder, real), (link, folder), (folder, link), (real, folder)):
            try:
                os.rename(a, b)
            except OSError:
                pass


def test_a_destination_folder_flipping_to_a_symlink_never_lets_a_file_out(tmp_path):
    root, dest, outside = tmp_path / "lib", tmp_path / "out", tmp_path / "outside"
    names = [f"v{i:03d}.mp4".encode() for i in range(120)]
    make_library(root, names, [1000 + i for i in range(120)])
    outside.mkdir()
    from organizer.moves.planner import build_plan
    from organizer.scan import scan
    plan = build_plan(root, dest, [(v, "c1") for v in scan(root, 0).videos], {})
    (dest / "c1").mkdir(parents=True)
    stop = multiprocessing.Event()
    flipper = multiprocessing.Process(target=_flip, args=(str(dest / "c1"), str(outside), stop))
    flipper.start()
    try:
        report = apply(plan)
    finally:
        stop.set()
        flipper.join(10)
    assert list(outside.iterdir()) == [], "a file was written through the symbolic link"
    assert len(digests(root, dest)) == 120 and report.moved + len(report.failed) + len(report.skipped) == 120


def _swap_sources(root: str, stop) -> None:
    """Replace sources with FIFOs and links while they are being moved."""
    n = 0
    while not stop.is_set():
        name = os.path.join(root, f"v{n % 120:03d}.mp4")
        try:
            os.rename(name, name + ".away")
            os.mkfifo(name) if n % 2 else os.symlink("/etc/passwd", name)
        except OSError:
            pass
        n += 7
        time.sleep(0.001)             # leave the mover time to move some, so that the two interleave


def test_sources_swapped_for_fifos_and_links_never_hang_or_get_followed(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "out"
    names = [f"v{i:03d}.mp4".encode() for i in range(120)]
    make_library(root, names, [5000 + i for i in range(120)])
    from organizer.moves.planner import build_plan
    from organizer.scan import scan
    plan = build_plan(root, dest, [(v, "c1") for v in scan(root, 0).videos], {})
    stop = multiprocessing.Event()
    swapper = multiprocessing.Process(target=_swap_sources, args=(str(root), stop))
    swapper.start()
    started = time.monotonic()
    try:
        report = apply(plan)
    finally:
        stop.set()
        swapper.join(10)
    assert time.monotonic() - started < 60
    moved = list((dest / "c1").iterdir()) if (dest / "c1").exists() else []
    assert all(p.is_file() and not p.is_symlink() for p in moved)
    assert len(moved) == report.moved and report.moved + len(report.skipped) + len(report.failed) == 120


# ----------------------------------------------------------------------------- edited manifests and state
@pytest.mark.parametrize("edit, message", [
    (lambda m: m["moves"][0].update(size=1e999), "size must be a whole number"),
    (lambda m: m.update(root=5), "root must be text"),
    (lambda m: m["moves"][0].update(src=["a"]), "src must be text"),
    (lambda m: m["moves"][0].update(dst="c/\ud800.mp4"), "no file name can hold"),
    (lambda m: m["moves"][0].update(src="a\0b.mp4"), "NUL"),
    (lambda m: m["moves"].append(dict(m["moves"][0])), "more than one move"),
    (lambda m: m["moves"][0].update(mtime_ns=True), "mtime_ns must be a whole number"),
    (lambda m: m.update(moves={}), "moves must be a list"),
])
def test_a_manifest_with_wrong_values_is_one_sentence_before_anything_moves(tmp_path, edit, message):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [10, 20])
    before = files(root)
    data = json.loads(make_plan(root, tmp_path / "out").to_json())
    edit(data)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(data))
    result, out = run("apply", manifest, "--json")
    assert result.exit_code == 1 and message in out["error"] and "Traceback" not in result.output
    assert files(root) == before


def test_the_html_report_given_to_apply_says_what_to_apply(tmp_path):
    report = tmp_path / "20260101T000000Z.html"
    report.write_text("<!doctype html><html></html>")
    result, data = run("apply", report, "--json")
    assert result.exit_code == 1 and "HTML report" in data["error"] and "20260101T000000Z.json" in data["error"]


def test_a_garbage_journal_line_breaks_nothing(tmp_path):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4"], [10])
    before = files(root)
    apply(make_plan(root, tmp_path / "out"))
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl"))
    with open(journal, "a") as fh:
        fh.write("[1,2]\n{\"type\": \"done\", \"op\": \"x\"}\n")
    listing, runs = run("runs", root, "--json")
    assert listing.exit_code == 0 and runs[0]["moved"] == 1
    assert run("undo", root)[0].exit_code == 0 and files(root) == before


@pytest.mark.parametrize("folder", ["plans", "journal"])
def test_organizer_folders_that_are_files_give_a_sentence(tmp_path, folder):
    root = tmp_path / "lib"
    write_video(root / "a.mp4", [1], seconds_each=1.0)
    (root / ".organizer").mkdir()
    (root / ".organizer" / folder).write_text("not a folder")
    result, data = run(root, "--json", "--weights", "random", "--settle-seconds", "0", "--clusters", "1")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert folder in data["error"] and ("Cannot write" in data["error"] or "could not be written" in data["error"])


def test_rebuild_state_that_cannot_move_the_file_aside_is_a_sentence(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    (root / ".organizer").mkdir(parents=True)
    (root / ".organizer" / "state.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(4000))

    def immutable(*a, **k):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "replace", immutable)
    result, data = run(root, "--json", "--weights", "random", "--rebuild-state")
    assert result.exit_code == 1 and "Cannot move the state database" in data["error"] and "chattr" in data["error"]


def test_a_full_disk_is_not_called_a_damaged_database(tmp_path):
    from organizer.errors import LibraryNotWritable, StateError
    from organizer.store.state import LibraryState
    from organizer.types import Analysis, Keyframes
    with LibraryState.open(tmp_path) as state:
        state.db.execute("PRAGMA max_page_count = 8")              # SQLite's own 'disk full'
        analysis = Analysis(1.0, 1, Keyframes((0,), (0.5,), (1,), (1.0,)), np.ones(4096, np.float32),
                            thumbnails=(os.urandom(200_000),))
        with pytest.raises(LibraryNotWritable) as err:
            state.store_analysis("fp", "key", analysis)
    assert "full" in str(err.value) and "--rebuild-state" not in str(err.value)
    assert not isinstance(err.value, StateError)


@needs_models
def test_state_rows_that_do_not_decode_are_analysed_again(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "a.mp4", [1, 2], seconds_each=1.0)
    write_video(root / "b.mp4", [3, 4], seconds_each=1.0)
    assert run(root, "--clusters", "2", "--json", *MODEL)[0].exit_code == 0
    db = sqlite3.connect(root / ".organizer" / "state.sqlite")
    db.execute("UPDATE videos SET keyframes = '{{' WHERE rowid = (SELECT min(rowid) FROM videos)")
    db.execute("UPDATE clusters SET centroid = x'0102'")
    db.commit()
    db.close()
    result, data = run(root, "--clusters", "2", "--json", *MODEL)
    assert result.exit_code == 0, result.output
    assert data["cached"] == 1 and data["videos"] == 2


# ------------------------------------------------------------------------------ settings and destinations
@pytest.mark.parametrize("option", ["--settle-seconds", "--sample-fps", "--max-distance"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_numbers_that_are_not_finite_are_refused(tmp_path, option, value):
    result, data = run(tmp_path, option, value, "--json", "--dry-run", "--weights", "random")
    assert result.exit_code == 2 and f"{option} must be a finite number" in data["error"]


@needs_models
def test_a_dest_that_does_not_exist_yet_is_created_and_undo_removes_it(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "a.mp4", [1, 2], seconds_each=1.0)
    write_video(root / "b.mp4", [1, 2], seconds_each=1.0, seed=3)
    dest = tmp_path / "new" / "sorted"
    result, data = run(root, "--clusters", "1", "--dest", dest, "--json", *MODEL)
    assert result.exit_code == 0 and data["moved"] == 2 and data["errors"] == []
    assert run("undo", root)[0].exit_code == 0
    assert not (tmp_path / "new").exists() and sorted(p.name for p in root.glob("*.mp4")) == ["a.mp4", "b.mp4"]


# -------------------------------------------------------------------------------------- enormous frames
def test_frames_above_the_pixel_limit_are_refused_before_decoding(tmp_path):
    from organizer.analysis.decode import sample_video
    from organizer.errors import VideoUnreadable
    path = tmp_path / "huge.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 1, (9000, 5000))
    writer.write(np.zeros((5000, 9000, 3), np.uint8))
    writer.release()
    with pytest.raises(VideoUnreadable, match="9000x5000 frames .* limit of 40 megapixels"):
        sample_video(path)


def test_large_frames_are_scaled_inside_the_decoder(tmp_path):
    """A 4000x3000 frame is scaled by FFmpeg on its way out: no full-size array is ever made here."""
    import tracemalloc
    from organizer.analysis.decode import sample_video
    path = tmp_path / "big.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (4000, 3000))
    frame = (np.indices((3000, 4000)).sum(0) % 256).astype(np.uint8)
    for _ in range(5):
        writer.write(np.dstack([frame] * 3))
    writer.release()
    del frame
    tracemalloc.start()
    sampled = sample_video(path, fps=5, max_frames=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sampled.frames[0].shape == (320, 427, 3)
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB of arrays for a 36 MB frame"


# ------------------------------------------------------------------------ moves that cannot be completed
@needs_models
def test_a_source_that_cannot_be_removed_is_remembered_not_retried_every_night(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    for i in range(3):
        write_video(root / f"v{i}.mp4", [1, 2], seconds_each=1.0, seed=i)
    monkeypatch.setenv(fsops.FAULT_ENV, "unlink_src:1:EPERM")
    result, data = run(root, "--clusters", "1", "--json", *MODEL)
    monkeypatch.delenv(fsops.FAULT_ENV)
    assert result.exit_code == 5 and len(data["errors"]) == 1 and data["moved"] == 2
    stuck = data["errors"][0]["path"]
    assert "could not be removed from its folder" in data["errors"][0]["reason"]
    assert (root / stuck).exists() and len(list(root.glob("cluster-*/*.mp4"))) == 2
    result, data = run(root, "--clusters", "1", "--json", *MODEL)
    assert result.exit_code == 0 and data["planned"] == 0
    assert [s["path"] for s in data["skipped"]] == [stuck] and "--retry-failed" in data["skipped"][0]["reason"]
    result, data = run(root, "--clusters", "1", "--json", "--retry-failed", *MODEL)
    assert result.exit_code == 0 and data["moved"] == 1 and not (root / stuck).exists()


def test_a_journal_that_cannot_be_written_stops_the_run_with_a_sentence(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4", b"c.mp4"], [10, 20, 30])
    before = sorted(digests(root))
    manifest = tmp_path / "m.json"
    manifest.write_text(make_plan(root, tmp_path / "out").to_json())
    monkeypatch.setenv(fsops.FAULT_ENV, "journal:4:ENOSPC")
    result, data = run("apply", manifest, "--json")
    monkeypatch.delenv(fsops.FAULT_ENV)
    assert result.exit_code == 1 and "the disk is full" in data["error"] and "nothing more was moved" in data["error"]
    assert "Traceback" not in result.output
    assert sorted(digests(root, tmp_path / "out")) == before
