"""Sources edited, renamed over and replaced while they are moved; copies that come out wrong at any size; a bind
mount of one filesystem; a journal on a disk that fills up (issue 22, classes 2, 3, 4 and 7; issue 28, mutants 5,
6 and 9). Each test observes the real effect: bytes on disk, inodes, journal records."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from organizer.moves import fsops, recovery
from organizer.moves.manifest import parse_plan
from organizer.errors import MoveInterrupted
from organizer.moves.journal import JournalError
from organizer.layout import Layout
from organizer.moves.undo import list_runs

from .moverkit import apply, cross_dest, digests, files, make_library, make_plan, needs_shm, temp_files, undo

BIG = (64 << 20) + 4096          # past the size that used to be checked by size alone


@needs_shm
@pytest.mark.parametrize("size", [70_000, BIG])
def test_a_copy_that_differs_is_never_published_and_the_source_stays(tmp_path, monkeypatch, size):
    """A disk or controller that returns other bytes than were written: caught at every size."""
    root, dest = tmp_path / "lib", cross_dest(tmp_path, f"corrupt{size}")
    try:
        originals = make_library(root, [b"a.mp4"], [size])
        plan = make_plan(root, dest)
        real = fsops.copy_durable

        def corrupting(src_fd, src_st, dst_fd):
            digest = real(src_fd, src_st, dst_fd)
            os.pwrite(dst_fd, b"\0garbage", size // 2)
            return digest
        monkeypatch.setattr(fsops, "copy_durable", corrupting)
        report = apply(plan)
        assert report.moved == 0 and "differs from the original" in report.failed[0][1]
        assert (root / "a.mp4").read_bytes() == originals[b"a.mp4"]
        assert not (dest / plan.moves[0].dst).exists() and temp_files(root, dest) == []
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@needs_shm
@pytest.mark.parametrize("keep_mtime", [False, True])
def test_a_source_edited_in_place_during_its_copy_is_kept_and_the_copy_removed(tmp_path, monkeypatch, keep_mtime):
    """Same inode, same size; even with its modification time put back (only ctime tells), the edit survives."""
    root, dest = tmp_path / "lib", cross_dest(tmp_path, "edited")
    try:
        make_library(root, [b"a.mp4"], [200_000])
        plan = make_plan(root, dest)
        real = fsops.copy_durable

        def edit_meanwhile(src_fd, src_st, dst_fd):
            digest = real(src_fd, src_st, dst_fd)
            with open(root / "a.mp4", "r+b") as fh:              # the user's editor saves in place
                fh.write(b"EDITED")
            if keep_mtime:
                os.utime(root / "a.mp4", ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
            return digest
        monkeypatch.setattr(fsops, "copy_durable", edit_meanwhile)
        report = apply(plan)
        assert report.moved == 0 and "written to while it was being copied" in report.failed[0][1]
        assert (root / "a.mp4").read_bytes().startswith(b"EDITED"), "the edited original must survive"
        assert not (dest / plan.moves[0].dst).exists() and temp_files(root, dest) == []
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_a_file_renamed_over_the_source_before_its_removal_is_left_alone(tmp_path, dest, monkeypatch):
    """A downloader's final rename() lands on the source's name after the last identity check, just before the
    source is unlinked (the unlink_src point): the downloader's file must survive, and ours must be moved."""
    root = tmp_path / "lib"
    originals = make_library(root, [b"a.mp4"], [90_000])
    plan = make_plan(root, dest)
    (root / ".incoming").write_bytes(b"the downloader's finished file")
    real = fsops.fault

    def downloader_wins(point):
        if point == "unlink_src" and (root / ".incoming").exists():
            os.rename(root / ".incoming", root / "a.mp4")
        return real(point)
    monkeypatch.setattr(fsops, "fault", downloader_wins)
    report = apply(plan)
    assert (root / "a.mp4").read_bytes() == b"the downloader's finished file"
    assert (dest / plan.moves[0].dst).read_bytes() == originals[b"a.mp4"]
    assert report.moved == 1 and temp_files(root, dest) == []


@needs_shm
def test_a_temporary_that_cannot_be_removed_leaves_the_move_open_for_recovery(tmp_path, monkeypatch):
    root, dest = tmp_path / "lib", cross_dest(tmp_path, "stuck-tmp")
    try:
        originals = make_library(root, [b"a.mp4", b"b.mp4"], [5000, 7000])
        plan = make_plan(root, dest)
        real = fsops.remove

        def failing(d, name, ino):
            if name.startswith(".organizer-tmp-"):
                raise OSError(errno.EIO, "Input/output error")
            return real(d, name, ino)
        monkeypatch.setattr(fsops, "remove", failing)
        with pytest.raises(MoveInterrupted, match="stays open in the journal"):
            apply(plan)
        monkeypatch.setattr(fsops, "remove", real)
        assert [r.status for r in list_runs(Layout.of(root))] == ["interrupted"]
        assert recovery.recover(Layout.of(root)) == 1
        assert temp_files(root, dest) == []
        apply(parse_plan(plan.to_json()))
        assert sorted(digests(root, dest)) == sorted(hashlib.sha256(d).hexdigest() for d in originals.values())
        assert files(root) == {}
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_a_source_rewritten_in_place_with_its_size_kept_is_skipped(tmp_path, dest):
    """Same size, same inode, another modification time: changed since planning, never moved."""
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [4096, 4096])
    plan = make_plan(root, dest)
    ino = os.stat(root / "a.mp4").st_ino
    with open(root / "a.mp4", "r+b") as fh:
        fh.write(b"new bytes, same length")
    assert os.stat(root / "a.mp4").st_ino == ino and os.stat(root / "a.mp4").st_size == 4096
    report = apply(plan)
    assert "changed since planning" in dict(report.skipped)["a.mp4"]
    assert (root / "a.mp4").read_bytes().startswith(b"new bytes") and report.moved == 1


def test_undo_skips_a_moved_file_replaced_by_another_of_the_same_size_and_time(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "out"
    make_library(root, [b"a.mp4", b"b.mp4"], [4096, 5000])
    plan = make_plan(root, dest)
    assert apply(plan).moved == 2
    moved = dest / plan.moves[0].dst
    st = os.stat(moved)
    replacement = moved.with_name("replacement")
    replacement.write_bytes(b"r" * st.st_size)
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, moved)                        # a new inode with the old size and time
    report = undo(root)
    assert moved.read_bytes() == b"r" * st.st_size, "a file organize did not put there is never moved back"
    assert report.moved == 1 and "changed since organize moved it" in report.skipped[0][1]


@pytest.fixture
def bind_mount(tmp_path):
    """The same filesystem seen at two places (link() across them fails with EXDEV)."""
    a, b = tmp_path / "disk", tmp_path / "bound"
    a.mkdir()
    b.mkdir()
    if subprocess.run(["mount", "--bind", str(a), str(b)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts need root (CI runs as root)")
    yield a, b
    subprocess.run(["umount", "-l", str(b)], check=False)


def test_a_dest_on_a_bind_mount_of_the_same_filesystem_is_copied_not_failed(tmp_path, bind_mount):
    _, bound = bind_mount
    root = tmp_path / "lib"
    originals = make_library(root, [b"a.mp4", b"b.mp4"], [5000, 70_000])
    before = files(root)
    assert os.stat(root).st_dev == os.stat(bound).st_dev
    plan = make_plan(root, bound / "out")
    report = apply(plan)
    assert report.moved == 2 and not report.failed
    for m in plan.moves:
        assert (bound / "out" / m.dst).read_bytes() == originals[m.src.encode()]
    assert undo(root).moved == 2 and files(root) == before


def test_a_journal_write_cut_short_stops_the_move_before_it_starts(tmp_path, monkeypatch):
    """The journal's disk takes only part of a record: no torn line stays, the announced move never starts, and
    the sentence says how many files were moved before."""
    root, dest = tmp_path / "lib", tmp_path / "out"
    originals = make_library(root, [b"a.mp4", b"b.mp4", b"c.mp4"], [10, 20, 30])
    plan = make_plan(root, dest)
    real_write, state = os.write, {"n": 0}

    def short(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl") and b'"type": "intent"' in bytes(data):
            state["n"] += 1
            if state["n"] == 3:                            # the intent of the third move
                real_write(fd, bytes(data[:7]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)
    monkeypatch.setattr(os, "write", short)
    with pytest.raises(JournalError, match=r"2 file\(s\) of this plan were moved before that"):
        apply(plan)
    monkeypatch.setattr(os, "write", real_write)
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl")).read_bytes()
    assert journal.endswith(b"\n") and all(json.loads(line) for line in journal.splitlines())
    third = plan.moves[2]
    assert (root / third.src).read_bytes() == originals[third.src.encode()] and not (dest / third.dst).exists()
    assert undo(root).moved == 2, "both moves made are in the journal, so undo finds them"


@pytest.fixture
def tiny_disk(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_journal_on_a_disk_that_fills_up_records_every_move_it_made(tmp_path, tiny_disk):
    """For real: .organizer on a 12 KiB filesystem. Whatever the run managed, undo brings every file back."""
    root = tmp_path / "lib"
    names = [f"clip-{i:02d}-{'n' * 80}.mp4".encode() for i in range(40)]
    make_library(root, names, [100] * len(names))
    before = files(root)
    (root / ".organizer").symlink_to(tiny_disk)            # the state folder on the tiny disk
    plan = make_plan(root, tmp_path / "out")
    with contextlib.suppress(JournalError):
        apply(plan)
    journal = next(Path(tiny_disk, "journal").glob("*.jsonl")).read_bytes()
    assert journal.endswith(b"\n"), "no torn record may stay behind"
    moved = sum(1 for line in journal.splitlines() if json.loads(line)["type"] == "done")
    on_dest = len(list((tmp_path / "out").rglob("clip-*")))
    assert moved == on_dest and moved < len(names), "every file that moved is recorded as done"
    subprocess.run(["mount", "-o", "remount,size=1m", str(tiny_disk)], check=True)    # space is freed
    assert undo(root).moved == moved
    assert files(root) == before
