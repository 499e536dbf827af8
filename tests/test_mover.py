"""Safe moves: names, I/O faults at every fault point, publishing that never replaces, the order of fsyncs,
sources that cannot be removed, temporary files, symbolic links swapped in, the lock, recovery and undo."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat as stat_module
import subprocess
import sys
from pathlib import Path

import pytest

from organizer.moves import fsops, mover, recovery
from organizer.moves.manifest import parse_plan
from organizer.errors import LockBusy, ManifestError, MoveInterrupted
from organizer.moves.journal import JournalError
from organizer.layout import Layout
from organizer.library import library_lock
from organizer.moves.plan import Move, Plan
from organizer.moves.undo import list_runs

from .moverkit import (LONG, NAMES, apply, check_after_kill, cross_dest, digests, files, make_library, make_plan,
                       temp_files, undo)


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "lib"
    return root, make_library(root)


def test_names_round_trip_through_manifest_journal_and_undo(lib, dest):
    root, originals = lib
    before = files(root)
    plan = parse_plan(make_plan(root, dest).to_json())   # through the manifest
    collided = [m for m in plan.moves if m.src == LONG][0]
    assert len(os.fsencode(collided.dst.split("/")[1])) == 255 and collided.dst.endswith(" (2).mp4")
    report = apply(plan)
    assert report.moved == len(NAMES) and not report.failed
    for m in plan.moves:
        assert open(os.path.join(os.fsencode(dest), os.fsencode(m.dst)), "rb").read() == originals[os.fsencode(m.src)]
    assert undo(root).moved == len(NAMES)
    assert files(root) == before                        # names, bytes and modification times
    assert not (dest / "cluster-01").exists()          # created by the run, now empty: removed
    assert (dest / "cluster-02").exists()              # existed before: kept


def test_undo_never_overwrites_and_skips_changed_files(lib, tmp_path):
    root, _ = lib
    dest = tmp_path / "out"
    plan = make_plan(root, dest)
    apply(plan)
    m0, m1 = plan.moves[0], plan.moves[1]
    (root / m0.src).write_bytes(b"a new file took the old name")
    (dest / m1.dst).write_bytes(b"edited after the move")
    reasons = {os.path.basename(p): r for p, r in undo(root).skipped}
    assert "is taken" in reasons[os.path.basename(m0.dst)] and "nothing was overwritten" in reasons[
        os.path.basename(m0.dst)]
    assert "changed since organize moved it" in reasons[os.path.basename(m1.dst)]
    assert (root / m0.src).read_bytes() == b"a new file took the old name"


def test_undo_dry_run_and_runs_listing(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    first = apply(plan)
    preview = undo(root, dry_run=True)
    assert preview.moved == len(plan.moves)
    assert all(os.path.exists(os.path.join(os.fsencode(tmp_path / "out"), os.fsencode(m.dst))) for m in plan.moves)
    runs = list_runs(Layout.of(root))
    assert [(r.id, r.kind, r.moved, r.status) for r in runs] == [(first.run_id, "apply", len(plan.moves), "complete")]
    undo(root, run_id=first.run_id)
    assert list_runs(Layout.of(root))[0].status == "undone"
    assert "already undone" in undo(root).note


def test_changed_or_vanished_source_is_skipped(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    (root / "one.mp4").write_bytes(b"changed!")
    (root / "big.mp4").unlink()
    same_time = os.stat(root / "zero.mp4").st_mtime_ns
    with open(root / "zero.mp4", "wb") as fh:          # grown, its time put back
        fh.write(b"new bytes")
    os.utime(root / "zero.mp4", ns=(same_time, same_time))
    st = os.stat(root / "-dash.mp4")
    os.rename(root / "-dash.mp4", root / "dash-was.mp4")     # another file, same size and time, took the name
    (root / "-dash.mp4").write_bytes((root / "dash-was.mp4").read_bytes())
    os.utime(root / "-dash.mp4", ns=(st.st_mtime_ns, st.st_mtime_ns))
    reasons = dict(apply(plan).skipped)
    assert "changed since planning" in reasons["one.mp4"]
    assert "no longer exists" in reasons["big.mp4"]
    assert "changed since planning" in reasons["zero.mp4"], "a size change alone is a change"
    assert "changed since planning" in reasons["-dash.mp4"], "another file under the same name is a change"


# ------------------------------------------------------------------------------------------- I/O faults
SAME_FS = ["mkdir", "publish", "fsync_dir", "after_publish", "before_unlink_src", "hide_src", "unlink_src",
           "journal"]
ACROSS = SAME_FS + ["tmp", "copy", "fsync", "unlink"]       # the temporary copy's points exist only across disks
CASES = [("same", p) for p in SAME_FS] + [("cross", p) for p in ACROSS]


@pytest.mark.parametrize("where,point", CASES)
@pytest.mark.parametrize("code", ["EIO", "ENOSPC", "EACCES"])
def test_a_fault_at_any_point_loses_nothing(lib, tmp_path, monkeypatch, where, point, code):
    """An error at the k-th hit of every fault point the move reaches (k = 2, or 1 for the one folder created):
    the fault must fire, nothing is lost, no temporary file is left, the run says why."""
    if where == "cross" and not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm not writable")
    dest = cross_dest(tmp_path, "fault") if where == "cross" else tmp_path / "out"
    root, originals = lib
    k = 1 if point == "mkdir" else 2
    try:
        plan = make_plan(root, dest)
        monkeypatch.setenv(fsops.FAULT_ENV, f"{point}:{k}:{code}")
        try:
            report = apply(plan)
        except (JournalError, MoveInterrupted) as exc:   # the journal, or a temporary that cannot be removed: the
            assert point in ("journal", "unlink") and "nothing more was moved" in str(exc)   # run stops, saying so
            report = None
        fired = fsops._hits.get(point, 0)
        monkeypatch.delenv(fsops.FAULT_ENV)
        assert fired >= k, f"the fault {point}:{k} never fired ({fired} hits): this case tests nothing"
        if report is not None and point not in ("unlink", "hide_src"):
            assert report.failed, f"the fault at {point} went unreported"
        assert check_after_kill(plan, originals) == []
        recovery.recover(Layout.of(root))
        assert temp_files(root, dest) == []
        assert digests(root, dest) == sorted(hashlib.sha256(d).hexdigest() for d in originals.values())
    finally:
        if where == "cross":
            shutil.rmtree(dest, ignore_errors=True)


def test_a_destination_that_appears_before_publishing_is_never_replaced(lib, dest, monkeypatch):
    root, originals = lib
    plan = make_plan(root, dest)
    real = fsops.publish

    def racing(src, src_name, dst, dst_name):
        if not dst_name.startswith(".organizer-tmp-") and fsops.stat_at(dst, dst_name) is None:
            fd = os.open(dst_name, os.O_WRONLY | os.O_CREAT, dir_fd=dst.fd)
            os.write(fd, b"someone else's file")
            os.close(fd)
        return real(src, src_name, dst, dst_name)
    monkeypatch.setattr(fsops, "publish", racing)
    report = apply(plan)
    assert report.moved == 0 and len(report.failed) == len(plan.moves)
    assert all("nothing was overwritten" in r for _, r in report.failed)
    for name, data in originals.items():
        assert open(os.path.join(os.fsencode(root), name), "rb").read() == data
    assert all(p.read_bytes() == b"someone else's file" for p in dest.glob("cluster-01/*"))
    assert temp_files(root, dest) == []


def _no_hard_links(monkeypatch):
    real_link = os.link

    def refuse(*a, **k):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", refuse)
    return real_link


def test_without_hard_links_renameat2_never_replaces(lib, dest, monkeypatch):
    """A filesystem without hard links (FAT): moves go through renameat2(RENAME_NOREPLACE), which never replaces a
    destination, not even one that appears just before the rename."""
    root, originals = lib
    before = files(root)
    plan = make_plan(root, dest)
    _no_hard_links(monkeypatch)
    real_rename = fsops.rename_noreplace
    raced = []

    def racing(src, src_name, dst, dst_name):
        if not raced and not dst_name.startswith(".organizer-tmp-"):
            fd = os.open(dst_name, os.O_WRONLY | os.O_CREAT, dir_fd=dst.fd)
            os.write(fd, b"raced in")
            os.close(fd)
            raced.append(dst_name)
        return real_rename(src, src_name, dst, dst_name)
    monkeypatch.setattr(fsops, "rename_noreplace", racing)
    (dest / "cluster-01").mkdir(parents=True, exist_ok=True)
    taken = plan.moves[0] if plan.moves[0].cluster == "cluster-01" else plan.moves[1]
    (dest / taken.dst).write_bytes(b"mine")
    report = apply(plan)
    assert (dest / taken.dst).read_bytes() == b"mine"
    assert raced and next(dest.rglob(raced[0])).read_bytes() == b"raced in"
    assert report.moved == len(plan.moves) - 2 and "nothing was overwritten" in dict(report.skipped)[taken.src]
    assert len(report.failed) == 1 and "nothing was overwritten" in report.failed[0][1]
    (dest / taken.dst).unlink()
    next(dest.rglob(raced[0])).unlink()
    assert check_after_kill(plan, originals) == []
    assert undo(root).moved == len(plan.moves) - 2 and files(root) == before


@pytest.mark.parametrize("cross", [False, True])
def test_fsyncs_come_in_the_order_that_survives_a_power_loss(tmp_path, monkeypatch, cross):
    """Observed on the real system calls, by inode: the copy's bytes are fsynced (at full size) before it is
    published, the destination folder is fsynced before the source goes, and the source's folder after."""
    if cross and not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm not writable")
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4"], [200_000, 70_000])
    dest = cross_dest(tmp_path, "order") if cross else tmp_path / "out"
    try:
        plan = make_plan(root, dest)          # b.mp4 goes to cluster-01, which is created
        calls = record_syscalls(monkeypatch)
        assert apply(plan).moved == 2
        folder_ino = {m.src: os.stat(dest / m.cluster).st_ino for m in plan.moves}
    finally:
        shutil.rmtree(dest, ignore_errors=True) if cross else None
    intents, dones, tmps = journal_ops(root)
    src_dir = os.stat(root).st_ino
    for op, intent in intents.items():
        copy = tmps[op]["ino"] if cross else intent["ino"]
        at = position(calls, "fsync", copy, size=intent["size"]) if cross else -2
        steps = [("link", copy), ("fsync_dir", folder_ino[intent["from"][1]]), ("unlink", intent["ino"]),
                 ("fsync_dir", src_dir)]
        for step, ino in steps:
            assert at != -1, f"move {op}: a step before {step} is missing from {calls}"
            at = position(calls, step, ino, after=at)
        assert at != -1, f"move {op}: the durable order was broken in {calls}"
        assert dones[op]["dst_ino"] == copy


def test_every_journal_record_is_fsynced_before_the_next_step(tmp_path, monkeypatch):
    """The journal's own fsync, observed: after each record, an fsync of the journal file at exactly that size,
    before any later system call touches a file."""
    root = tmp_path / "lib"
    make_library(root, [b"a.mp4", b"b.mp4", b"c.mp4"], [10, 20, 30])
    plan = make_plan(root, tmp_path / "out")
    calls = record_syscalls(monkeypatch)
    assert apply(plan).moved == 3
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl"))
    ino, data = journal.stat().st_ino, journal.read_bytes()
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    synced = [size for op, i, size in calls if op == "fsync" and i == ino]
    assert synced == ends, "every record must be fsynced, each on its own"


def record_syscalls(monkeypatch) -> list[tuple[str, int, int]]:
    """Wrap the real fsync, link, rename and unlink: each call is recorded as (op, inode, size) of what it
    touched ("fsync_dir" for folders), in order."""
    calls: list[tuple[str, int, int]] = []
    real = {name: getattr(os, name) for name in ("fsync", "link", "rename", "unlink")}

    def fsync(fd):
        st = os.fstat(fd)
        calls.append(("fsync_dir" if stat_module.S_ISDIR(st.st_mode) else "fsync", st.st_ino, st.st_size))
        return real["fsync"](fd)

    def of(name, dir_fd):
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return st.st_ino, st.st_size

    def link(src, dst, *, src_dir_fd=None, dst_dir_fd=None, follow_symlinks=True):
        calls.append(("link", *of(src, src_dir_fd)))
        return real["link"](src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd, follow_symlinks=follow_symlinks)

    def rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        calls.append(("rename", *of(src, src_dir_fd)))
        return real["rename"](src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def unlink(name, *, dir_fd=None):
        calls.append(("unlink", *of(name, dir_fd)))
        return real["unlink"](name, dir_fd=dir_fd)
    for name, fn in (("fsync", fsync), ("link", link), ("rename", rename), ("unlink", unlink)):
        monkeypatch.setattr(os, name, fn)
    return calls


def position(calls, op, ino, size=None, after=-2) -> int:
    """Index of the first call (op, ino[, size]) after index `after` (-2: the first anywhere)."""
    for i, (o, n, s) in enumerate(calls):
        if i > after and o == op and n == ino and (size is None or s == size):
            return i
    return -1


def journal_ops(root: Path):
    records = [json.loads(line) for p in Layout.of(root).journal_dir.glob("*.jsonl")
               for line in p.read_text().splitlines()]
    pick = lambda kind: {r["op"]: r for r in records if r["type"] == kind}  # noqa: E731
    return pick("intent"), pick("done"), pick("tmp")


# ----------------------------------------------------------------------------- sources that cannot be removed
def test_a_source_that_cannot_be_removed_is_rolled_back(lib, dest, monkeypatch):
    root, originals = lib
    plan = make_plan(root, dest)
    monkeypatch.setenv(fsops.FAULT_ENV, "unlink_src:1:EACCES")
    fsops.reset_faults()
    report = apply(plan)
    monkeypatch.delenv(fsops.FAULT_ENV)
    stuck = plan.moves[0]
    assert report.stuck == [stuck.src]
    assert "could not be removed from its folder" in dict(report.failed)[stuck.src]
    assert (root / stuck.src).read_bytes() == originals[stuck.src.encode()] and not (dest / stuck.dst).exists()
    assert digests(root, dest) == sorted(hashlib.sha256(d).hexdigest() for d in originals.values())
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl")).read_text()
    assert '"type": "rolled_back", "op": 0' in journal


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_a_read_only_source_folder_as_another_user_is_rolled_back(tmp_path):
    """For real: the mover runs as 'nobody' and the source folder is not writable for it."""
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="organizer-nobody-"))       # pytest's own folders are root's only
    os.chmod(base, 0o777)
    root, dest = base / "lib", base / "out"
    sub = root / "ro"
    make_library(sub, [b"a.mp4", b"b.mp4"], [1000, 70_000])
    plan = make_plan(root, dest)
    for folder in (root, dest, dest / "cluster-02"):
        os.chmod(folder, 0o777)
    for video in sub.iterdir():
        os.chown(video, 65534, 65534)             # its own files (so it may link them), in a folder it cannot change
    os.chmod(sub, 0o555)
    (root / ".organizer").mkdir(mode=0o777)
    os.chmod(root / ".organizer", 0o777)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                  # the child drops to 'nobody' and applies the plan
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            r = mover.apply_plan(plan, Layout.of(root))
            os.write(write, json.dumps({"moved": r.moved, "stuck": r.stuck}).encode())
            code = 0
        except BaseException as exc:
            os.write(write, repr(exc).encode())
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    said = os.read(read, 65536)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, said
    result = json.loads(said)
    assert result["moved"] == 0 and sorted(result["stuck"]) == ["ro/a.mp4", "ro/b.mp4"]
    assert sorted(p.name for p in sub.iterdir()) == ["a.mp4", "b.mp4"]
    assert [p for p in dest.rglob("*.mp4") if "ro" not in p.parts and p.name in ("a.mp4", "b.mp4")] == []
    shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------------ temporary files
def test_a_manifest_may_not_name_our_temporary_files_or_state_folder(lib, tmp_path):
    root, _ = lib
    data = json.loads(make_plan(root, tmp_path / "out").to_json())
    for field_, value in (("dst", "cluster-01/.organizer-tmp-1"), ("dst", ".organizer/x.mp4"),
                          ("src", ".organizer/state.sqlite"), ("src", "sub/.organizer/lock"),
                          ("dst", "cluster-01/.organizer")):
        bad = json.loads(json.dumps(data))
        bad["moves"][0][field_] = value
        with pytest.raises(ManifestError, match="organize's own"):
            parse_plan(json.dumps(bad))


def test_temporary_files_are_removed_only_by_their_inode(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with fsops.open_dir(folder) as d:
        name, fd = fsops.create_temp(d, fsops.temp_name())
        ino = os.fstat(fd).st_ino
        os.close(fd)
        os.rename(folder / name, folder / "kept")          # ours lives on elsewhere; another file takes the name
        (folder / name).write_bytes(b"someone else's file with our name")
        assert fsops.remove(d, name, ino) is False
        assert (folder / name).read_bytes() == b"someone else's file with our name"
        with pytest.raises(FileExistsError):
            fsops.create_temp(d, name)            # O_EXCL: never an existing file


# ------------------------------------------------------------------------------ links swapped in, the lock
def test_a_symlinked_cluster_folder_is_never_followed(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, tmp_path / "out" / "cluster-01")
    report = apply(plan)
    assert list(outside.iterdir()) == []
    into_link = {m.src for m in plan.moves if m.cluster == "cluster-01"}
    reasons = dict(report.failed)
    assert set(reasons) == into_link
    assert all("symbolic link or not a folder" in reasons[src] for src in into_link)
    assert report.moved == len(plan.moves) - len(into_link)


def test_undo_after_a_library_folder_became_a_symlink_moves_nothing_outside(tmp_path):
    root, dest = tmp_path / "lib", tmp_path / "out"
    make_library(root / "sub", [b"a.mp4", b"b.mp4"], [10, 20])
    plan = make_plan(root, dest)
    assert apply(plan).moved == 2
    outside = tmp_path / "outside"
    outside.mkdir()
    assert not (root / "sub").exists(), "the apply removed the folder it emptied"
    os.symlink(outside, root / "sub")                  # and a link to elsewhere took its name
    report = undo(root)
    assert list(outside.iterdir()) == [] and report.moved == 0 and len(report.failed) == 2
    assert all("symbolic link" in r for _, r in report.failed)


def test_second_concurrent_run_is_refused(tmp_path):
    with library_lock(Layout.of(tmp_path)):
        with pytest.raises(LockBusy, match="Another organize run"):
            with library_lock(Layout.of(tmp_path)):
                pass


def test_lock_left_by_a_killed_process_does_not_block(tmp_path):
    code = ("import os,sys; sys.path.insert(0, %r); from organizer.library import library_lock\n"
            "from organizer.layout import Layout\n"
            "with library_lock(Layout.of(%r)):\n    os.kill(os.getpid(), 9)") % (
        str(Path(__file__).parent.parent), str(tmp_path))
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    with library_lock(Layout.of(tmp_path)):
        pass


def test_recovery_then_journal_is_closed(lib, tmp_path):
    from .moverkit import run_killed
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    assert run_killed(lambda: apply(plan), "unlink_src:3")
    assert list_runs(Layout.of(root))[0].status == "interrupted"
    assert recovery.recover(Layout.of(root)) == 1
    assert list_runs(Layout.of(root))[0].status == "recovered"
    assert recovery.recover(Layout.of(root)) == 0


def test_a_plan_with_moves_into_organizer_state_is_refused_before_anything_moves(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    moves = list(plan.moves)
    moves[3] = Move(".organizer/state.sqlite", "cluster-01/state.sqlite", "cluster-01", 1, 1)
    with pytest.raises(ManifestError):
        mover.apply_plan(Plan(plan.root, plan.dest, "", {}, plan.clusters, moves))
    assert not Layout.of(root).journal_dir.exists() or not list(Layout.of(root).journal_dir.iterdir())


def test_apply_removes_the_folders_it_emptied_and_undo_brings_them_back(tmp_path):
    """phone/ and films/trips/ are emptied by the run and removed (journaled); new/ was empty before and stays;
    films/ keeps a file the plan leaves alone. Undo puts every file back into its folder."""
    root = tmp_path / "lib"
    make_library(root / "phone", [b"a.mp4", b"b.mp4"], [10, 20])
    make_library(root / "films" / "trips", [b"c.mp4"], [30])
    (root / "films" / "notes.txt").write_text("mine")
    (root / "new").mkdir()
    before = files(root)
    plan = make_plan(root, tmp_path / "out")
    report = apply(plan)
    assert report.moved == 3 and report.removed_dirs == 2          # phone and films/trips
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if ".organizer" not in p.parts)
    assert left == ["films", "films/notes.txt", "new"]
    journal = next(Layout.of(root).journal_dir.glob("*.jsonl")).read_text()
    assert '"type": "rmdir", "base": "root", "rel": "phone"' in journal
    assert undo(root).moved == 3 and files(root) == before
    assert (root / "new").is_dir()
