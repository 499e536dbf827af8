"""Recovery closes a move only with evidence of where its bytes are (issue 22, class 1; issue 28, mutants 7 and 8):
a dest that is unplugged, an empty mount point in its place, a library renamed, an fsync that fails during
recovery, a foreign file at the destination, and a dry run that must not recover at all."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import pytest

from organizer.moves import recovery
from organizer.errors import RecoveryBlocked
from organizer.moves.fsops import FAULT_ENV, reset_faults
from organizer.layout import Layout
from organizer.moves.undo import list_runs

from .moverkit import (apply, check_after_kill, cross_dest, digests, files, make_library, make_plan, needs_shm,
                       run_killed, temp_files, undo)


def killed_after_publish(root: Path, dest: Path, names=(b"a.mp4", b"b.mp4"), sizes=(5000, 70_000)):
    """A library whose apply was killed after the first copy was published, before its source went."""
    originals = make_library(root, list(names), list(sizes))
    plan = make_plan(root, dest)
    assert run_killed(lambda: apply(plan), "before_unlink_src:1")
    first = plan.moves[0]
    assert (root / first.src).exists() and (dest / first.dst).exists()
    return plan, originals


def open_journals(root: Path) -> int:
    return sum(r.status == "interrupted" for r in list_runs(Layout.of(root)))


@contextlib.contextmanager
def usb_dest(tmp_path: Path, name: str):
    """A dest on another filesystem, and the place it goes while 'unplugged'; both removed afterwards."""
    dest = cross_dest(tmp_path, name)
    aside = Path(str(dest) + "-unplugged")
    try:
        yield dest, aside
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)


@needs_shm
def test_an_unplugged_dest_keeps_the_journal_open_until_it_is_back(tmp_path):
    root = tmp_path / "lib"
    with usb_dest(tmp_path, "unplugged") as (dest, aside):
        plan, originals = killed_after_publish(root, dest)
        os.rename(dest, aside)                                   # the disk is gone
        with pytest.raises(RecoveryBlocked, match=f"waiting for the folder {dest}"):
            recovery.recover(Layout.of(root))
        assert open_journals(root) == 1, "the move must stay open, not be closed as rolled back"
        assert (root / plan.moves[0].src).exists()
        os.rename(aside, dest)                                   # the disk is back
        assert recovery.recover(Layout.of(root)) == 1
        first = plan.moves[0]
        assert not (root / first.src).exists(), "the finished move was completed, not duplicated"
        assert (dest / first.dst).read_bytes() == originals[first.src.encode()]
        assert undo(root).moved == 1 and (root / first.src).read_bytes() == originals[first.src.encode()]


@needs_shm
def test_an_empty_mount_point_in_place_of_the_dest_is_not_taken_for_it(tmp_path):
    root = tmp_path / "lib"
    with usb_dest(tmp_path, "mountpoint") as (dest, aside):
        plan, _ = killed_after_publish(root, dest)
        os.rename(dest, aside)
        dest.mkdir()                                             # what an unmounted disk leaves: an empty folder
        with pytest.raises(RecoveryBlocked, match="is not the folder the run worked in"):
            recovery.recover(Layout.of(root))
        assert open_journals(root) == 1 and (root / plan.moves[0].src).exists()


def test_a_renamed_library_is_found_again_by_its_identity(tmp_path):
    root = tmp_path / "lib"
    plan, originals = killed_after_publish(root, root)           # the cluster folders inside the library
    renamed = tmp_path / "Videos, renamed"
    os.rename(root, renamed)
    assert recovery.recover(Layout.of(renamed)) == 1
    first = plan.moves[0]
    assert not (renamed / first.src).exists() and (renamed / first.dst).read_bytes() == originals[
        first.src.encode()]
    assert undo(renamed).moved == 1, "undo finds the renamed library's folders too"
    assert (renamed / first.src).read_bytes() == originals[first.src.encode()]
    left = sorted(os.path.relpath(p, os.fsencode(renamed)) for p in files(renamed))
    assert [p for p in left if not p.startswith(b"cluster-02/xxx")] == [b"a.mp4", b"b.mp4"]


def test_a_failing_fsync_during_recovery_leaves_the_move_open_not_rolled_back(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    plan, originals = killed_after_publish(root, tmp_path / "out")
    monkeypatch.setenv(FAULT_ENV, "fsync_dir:1:EIO")
    reset_faults()
    with pytest.raises(RecoveryBlocked, match="stays open"):
        recovery.recover(Layout.of(root))
    monkeypatch.delenv(FAULT_ENV)
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl")).read_text()
    assert "rolled_back" not in journal and open_journals(root) == 1
    assert check_after_kill(plan, originals) == []
    assert recovery.recover(Layout.of(root)) == 1
    assert '"type": "done", "op": 0' in next(Layout.of(root).journal_dir.glob("*.jsonl")).read_text()
    assert digests(root, tmp_path / "out") == sorted(digests_of(originals)) and temp_files(root) == []


def test_recovery_never_deletes_a_foreign_file_at_the_destination(tmp_path):
    """Killed after the intent, before anything was published; then someone puts their own file at the
    destination name. Recovery rolls back and leaves that file alone."""
    root, dest = tmp_path / "lib", tmp_path / "out"
    originals = make_library(root, [b"a.mp4", b"b.mp4"], [5000, 7000])
    plan = make_plan(root, dest)
    assert run_killed(lambda: apply(plan), "publish:1")
    first = plan.moves[0]
    (dest / first.dst).parent.mkdir(parents=True, exist_ok=True)
    (dest / first.dst).write_bytes(b"someone else's file")
    assert recovery.recover(Layout.of(root)) == 1
    assert (dest / first.dst).read_bytes() == b"someone else's file"
    assert (root / first.src).read_bytes() == originals[first.src.encode()]


def test_every_command_that_moves_refuses_while_a_move_waits_for_a_folder(tmp_path):
    from click.testing import CliRunner

    from organizer.cli import main
    root = tmp_path / "lib"
    plan, _ = killed_after_publish(root, tmp_path / "out")
    os.rename(tmp_path / "out", tmp_path / "gone")
    manifest = tmp_path / "plan.json"
    manifest.write_text(plan.to_json())
    for args in (["apply", str(manifest), "--json"], ["undo", str(root), "--json"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 7, result.output
        error = json.loads(result.stdout)["error"]
        assert f"waiting for the folder {tmp_path / 'out'}" in error and "Reconnect" in error
        assert "Traceback" not in result.output
    assert open_journals(root) == 1


def digests_of(originals):
    import hashlib
    return [hashlib.sha256(d).hexdigest() for d in originals.values()]


def test_a_dry_run_never_finishes_an_interrupted_apply(tmp_path):
    """A dry run changes nothing, not even to finish a move: the next real run does that."""
    from click.testing import CliRunner

    from organizer.cli import main

    from .conftest import MNV1
    root = tmp_path / "lib"
    plan, _ = killed_after_publish(root, tmp_path / "out")
    before = files(root, tmp_path / "out")
    result = CliRunner().invoke(main, [str(root), "--dry-run", "--model", str(MNV1), "--settle-seconds", "0"])
    assert "Traceback" not in result.output
    assert files(root, tmp_path / "out") == before and open_journals(root) == 1
    assert recovery.recover(Layout.of(root)) == 1
