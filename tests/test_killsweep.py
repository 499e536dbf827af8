"""SIGKILL at every fault point of apply and of undo, round after round, on one filesystem and across two; a
naive mover the sweep must catch; torn journals; undo of whole plan applications."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from organizer.moves import fsops, mover, recovery
from organizer.moves.manifest import parse_plan
from organizer.layout import Layout
from organizer.moves.plan import Plan

from .moverkit import (LARGE, LONG, apply, check_after_kill, cross_dest, digests, files, make_library, make_plan,
                       needs_shm, run_killed, temp_files, undo)

POINTS = ["mkdir", "tmp", "copy", "fsync", "publish", "fsync_dir", "after_publish", "before_unlink_src", "hide_src",
          "unlink_src", "unlink", "journal"]


def one_round(base: Path, dest_base: Path, point: str, k: int) -> tuple[int, list[str]]:
    """Apply killed at point:k, recovered and finished; undo killed at point:k, resumed. Returns (kills,
    problems)."""
    root, dest = base / "lib", dest_base / "out"
    originals = make_library(root)
    before = files(root)
    plan = make_plan(root, dest)
    tag = f"{point}:{k}"
    problems, kills = [], 0
    kills += run_killed(lambda: apply(plan), tag)
    problems += [f"{tag} apply: {p}" for p in check_after_kill(plan, originals)]
    apply(parse_plan(plan.to_json()))                # recovery, then the same plan resumes
    if sorted(digests(root, dest)) != sorted(digests_of(originals)) or files(root):
        problems.append(f"{tag}: after the resumed apply the files are not each moved exactly once")
    if temp_files(root, dest):
        problems.append(f"{tag}: temporary files left after recovery")
    kills += run_killed(lambda: undo(root), tag)
    undo(root)                                           # resume the killed undo (or find it finished)
    if files(root) != before:
        problems.append(f"{tag}: undo did not restore the original tree (names, bytes, modification times)")
    if (dest / "cluster-01").exists() or not (dest / "cluster-02" / LONG).exists():
        problems.append(f"{tag}: undo left a folder it created, or removed one it did not")
    return kills, problems


def digests_of(originals: dict[bytes, bytes]) -> list[str]:
    import hashlib
    return [hashlib.sha256(d).hexdigest() for d in originals.values()]


def sweep(base: Path, dest_base: Path) -> tuple[int, list[str]]:
    kills, problems = 0, []
    for point in POINTS:
        for k in range(1, 60):
            work = f"{point}-{k}"
            got, found = one_round(base / work, dest_base / work, point, k)
            kills += got
            problems += found
            shutil.rmtree(base / work, ignore_errors=True)
            shutil.rmtree(dest_base / work, ignore_errors=True)
            if not got:
                break         # neither apply nor undo reaches this point k times
    return kills, problems


def test_kill_sweep_same_filesystem(tmp_path):
    kills, problems = sweep(tmp_path / "a", tmp_path / "a")
    assert problems == []
    assert kills >= 150


@needs_shm
@pytest.mark.slow
def test_kill_sweep_across_filesystems(tmp_path):
    shm = cross_dest(tmp_path, "sweep")
    try:
        kills, problems = sweep(tmp_path, shm)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    assert problems == []
    assert kills >= 250       # with the same-filesystem sweep, about 500 SIGKILLs in all


def naive_transfer(journal, op, sd, sname, dd, dname, st, tmp, hidden, cross):
    """What careless movers do: write straight to the final name, then delete the source."""
    fd = os.open(dname, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dd.fd)
    src = os.open(sname, os.O_RDONLY, dir_fd=sd.fd)
    while chunk := os.read(src, 4096):
        fsops.fault("copy")
        os.write(fd, chunk)
    os.close(fd)
    os.close(src)
    os.unlink(sname, dir_fd=sd.fd)
    return os.stat(dname, dir_fd=dd.fd)


@needs_shm
def test_the_sweep_catches_a_naive_mover(tmp_path, monkeypatch):
    shm = cross_dest(tmp_path, "naive")
    monkeypatch.setattr(mover, "transfer", naive_transfer)
    problems = []
    try:
        for k in range(1, 8):
            root, dest = tmp_path / str(k) / "lib", shm / str(k)
            originals = make_library(root)
            plan = make_plan(root, dest)
            run_killed(lambda: apply(plan), f"copy:{k}")
            problems += check_after_kill(plan, originals)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    assert any("differs from its original under its final name" in p for p in problems)


def test_a_torn_journal_line_is_cut_before_recovery_writes(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "out"
    originals = make_library(root)
    before = files(root)
    plan = make_plan(root, dest)
    assert run_killed(lambda: apply(plan), "after_publish:4")
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl"))
    with open(journal, "ab") as fh:
        fh.write(b'{"type": "done", "op": 3, "dst_in')              # power lost in the middle of a record
    assert recovery.recover(Layout.of(root)) == 1
    text = journal.read_bytes()
    assert b'"dst_in\n' not in text and b"dst_in{" not in text and text.endswith(b"\n")
    assert check_after_kill(plan, originals) == []
    apply(parse_plan(plan.to_json()))
    undo(root)
    assert files(root) == before


def test_undo_reverses_an_interrupted_and_resumed_application_in_one_go(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "out"
    make_library(root)
    before = files(root)
    plan = make_plan(root, dest)
    assert run_killed(lambda: apply(plan), "unlink_src:5")
    apply(parse_plan(plan.to_json()))          # recovery and the resumed apply: two runs, one application
    assert files(root) == {}
    report = undo(root)
    assert report.moved == len(plan.moves) and files(root) == before
    again = undo(root)
    assert again.moved == 0 and "already undone" in again.note


def test_an_undo_killed_after_its_last_move_never_carries_on_onto_an_older_run(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "out"
    make_library(root)
    plan = make_plan(root, dest)
    first = [m for m in plan.moves][:5]
    second = [m for m in plan.moves][5:]
    apply(Plan(plan.root, plan.dest, "", {}, plan.clusters, first))
    after_first = files(root, dest)
    apply(Plan(plan.root, plan.dest, "", {}, plan.clusters, second))
    # the undo of the second application is killed just before its end record: every file is back
    assert run_killed(lambda: undo(root), f"journal:{2 * len(second) + 2}")
    report = undo(root)
    assert report.moved == 0 and "already undone" in report.note
    assert files(root, dest) == after_first, "the first application must stay applied"


def test_undo_goes_back_in_reverse_order(tmp_path):
    """A chain: b takes the place a left. Undone forwards, a's way back would be blocked by b."""
    root = tmp_path / "lib"
    (root / "c1").mkdir(parents=True)
    (root / "c2").mkdir()
    (root / "c1" / "v.mp4").write_bytes(b"first")
    (root / "c2" / "v.mp4").write_bytes(b"second")
    before = files(root)
    s1, s2 = os.stat(root / "c1" / "v.mp4"), os.stat(root / "c2" / "v.mp4")
    from organizer.moves.plan import Move
    moves = [Move("c2/v.mp4", "c3/v.mp4", "c3", s2.st_size, s2.st_mtime_ns, s2.st_ino),
             Move("c1/v.mp4", "c2/v.mp4", "c2", s1.st_size, s1.st_mtime_ns, s1.st_ino)]
    report = apply(Plan(str(root), str(root), "", {}, [], moves))
    assert report.moved == 2
    back = undo(root)
    assert back.moved == 2 and back.skipped == [] and files(root) == before


# ----------------------------------------------------------------------------------- double faults
RECOVERY_POINTS = ["unlink", "hide_src", "unlink_src", "fsync_dir", "journal"]
# A smaller library for the double sweep: empty, an odd name, the 255-byte collision, a copy of several chunks.
SMALL_NAMES = [b"zero.mp4", b"new\nline.mp4", LONG.encode(), b"large.mp4"]
SMALL_SIZES = [0, 4095, 65537, LARGE]


def double_round(base: Path, dest_base: Path, first: str, second: str) -> tuple[bool | None, list[str]]:
    """Apply killed at `first`, then its recovery killed at `second`, then everything resumed. Returns (whether
    the recovery was killed, None if the apply was not, problems)."""
    root, dest = base / "lib", dest_base / "out"
    originals = make_library(root, SMALL_NAMES, SMALL_SIZES)
    plan = make_plan(root, dest)
    tag = f"{first} then {second}"
    if not run_killed(lambda: apply(plan), first):
        return None, []
    killed = run_killed(lambda: recovery.recover(Layout.of(root)), second)
    problems = [f"{tag}: {p}" for p in check_after_kill(plan, originals)]
    apply(parse_plan(plan.to_json()))
    if sorted(digests(root, dest)) != sorted(digests_of(originals)) or files(root):
        problems.append(f"{tag}: after resuming, the files are not each moved exactly once")
    if temp_files(root, dest):
        problems.append(f"{tag}: temporary files left")
    return killed, problems


def double_sweep(base: Path, dest_base: Path, firsts: list[tuple[str, int]], max_k2: int) -> tuple[int, list[str]]:
    kills, problems, n = 0, [], 0
    for point, k in firsts:
        reached = True
        for second in RECOVERY_POINTS:
            for k2 in range(1, max_k2 + 1) if reached else ():
                n += 1
                killed, found = double_round(base / str(n), dest_base / str(n), f"{point}:{k}", f"{second}:{k2}")
                shutil.rmtree(base / str(n), ignore_errors=True)
                shutil.rmtree(dest_base / str(n), ignore_errors=True)
                reached = killed is not None          # the apply reaches this kill point at all
                kills += bool(killed)
                problems += found
                if not killed:
                    break
    return kills, problems


# Kills that leave work for recovery: after a publish, before or while the source goes, inside the journal.
SAMPLED = [("after_publish", 2), ("before_unlink_src", 3), ("hide_src", 1), ("unlink_src", 4), ("journal", 7),
           ("fsync_dir", 5), ("tmp", 2), ("copy", 3)]


@needs_shm
def test_double_faults_sampled(tmp_path):
    """Recovery itself killed: a sample of the double-fault sweep, across filesystems (the harder case)."""
    shm = cross_dest(tmp_path, "double")
    try:
        kills, problems = double_sweep(tmp_path, shm, SAMPLED, max_k2=2)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    assert problems == []
    assert kills >= 20, "the recovery must actually have been killed, many times"


@pytest.mark.slow
@pytest.mark.parametrize("cross", [False, True])
def test_double_faults_exhaustive(tmp_path, cross):
    """Every apply kill point (k up to 8) followed by every recovery kill point, on one filesystem and across."""
    if cross and not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm not writable")
    dest_base = cross_dest(tmp_path, "double-all") if cross else tmp_path
    firsts = [(p, k) for p in POINTS for k in range(1, 7)]
    try:
        kills, problems = double_sweep(tmp_path, dest_base, firsts, max_k2=4)
    finally:
        if cross:
            shutil.rmtree(dest_base, ignore_errors=True)
    assert problems == []
    assert kills >= 100
