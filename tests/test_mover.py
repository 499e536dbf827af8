"""Safe moves: kill sweep (fork harness), a naive mover the sweep must catch, I/O faults, names, lock, undo."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from organizer import fsops, mover
from organizer.errors import LockBusy, ManifestError
from organizer.layout import Layout
from organizer.library import library_lock
from organizer.planner import Plan, build_plan
from organizer.scan import scan

POINTS = ["publish", "after_publish", "copy", "fsync", "before_unlink_src", "unlink_src", "mkdir", "journal"]
SHM = Path("/dev/shm")
needs_shm = pytest.mark.skipif(not SHM.is_dir() or not os.access(SHM, os.W_OK), reason="/dev/shm not writable")

LONG = "x" * 251 + ".mp4"   # 255 bytes
NAMES = [b"zero.mp4", b"one.mp4", b"-dash.mp4", b"new\nline.mp4", b"quote'\"s.mp4",
         unicodedata.normalize("NFC", "caf\u00e9.mp4").encode(), unicodedata.normalize("NFD", "caf\u00e9.mp4").encode(),
         b"\xff\xfe-not-utf8.mp4", LONG.encode(), b"big.mp4", b"odd.mp4", b"page.mp4"]
SIZES = [0, 1, 4095, 65536, 65537, 300_000, 2, 3, 4, 400_000, 4096, 12345]


def apply(plan: Plan) -> mover.ApplyReport:
    """What the library service does with the files: finish interrupted runs, then apply."""
    layout = Layout.of(plan.root)
    mover.recover(layout)
    return mover.apply_plan(plan, layout)


def undo(root: Path, **kw) -> mover.ApplyReport:
    return mover.undo(Layout.of(root), **kw)


def make_library(root: Path) -> dict[bytes, bytes]:
    root.mkdir(parents=True, exist_ok=True)
    originals = {}
    for i, (name, size) in enumerate(zip(NAMES, SIZES)):
        data = hashlib.sha256(name).digest() * (size // 32 + 1)
        data = data[:size]
        path = os.path.join(os.fsencode(root), name)
        with open(path, "wb") as fh:
            fh.write(data)
        os.utime(path, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
        originals[name] = data
    return originals


def make_plan(root: Path, dest: Path) -> Plan:
    found = scan(root, settle_seconds=0)
    assignment = [(v, "cluster-02" if v.rel == LONG or i % 2 == 0 else "cluster-01")
                  for i, v in enumerate(found.videos)]
    (dest / "cluster-02").mkdir(parents=True, exist_ok=True)
    (dest / "cluster-02" / LONG).write_bytes(b"already here")   # forces a 255-byte collision suffix
    return build_plan(root, dest, assignment, settings={})


def digests(*folders: Path) -> list[str]:
    out = []
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
            dirnames[:] = [d for d in dirnames if d != b".organizer"]
            for name in filenames:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    data = fh.read()
                if data != b"already here":
                    out.append(hashlib.sha256(data).hexdigest())
    return sorted(out)


def temp_files(*folders: Path) -> list[str]:
    return [os.path.join(d, n) for f in folders for d, _, ns in os.walk(f) for n in ns if ".organizer-tmp" in n]


def check_after_kill(plan: Plan, originals: dict[bytes, bytes]) -> list[str]:
    """Every original is whole at its source or destination; nothing under a final name differs."""
    problems = []
    root, dest = os.fsencode(plan.root), os.fsencode(plan.dest)
    for m in plan.moves:
        name = os.fsencode(m.src)
        src, dst = os.path.join(root, name), os.path.join(dest, os.fsencode(m.dst))
        data = originals[name]
        whole = [p for p in (src, dst) if os.path.exists(p) and open(p, "rb").read() == data]
        if not whole:
            problems.append(f"{m.src!r} lost")
        if os.path.exists(dst) and open(dst, "rb").read() != data:
            problems.append(f"{m.dst!r} differs from its original under its final name")
    return problems


def run_killed(fn, fault: str) -> bool:
    """Run fn in a forked child with the fault armed; True if the child was killed."""
    pid = os.fork()
    if pid == 0:   # child
        os.environ[fsops.FAULT_ENV] = fault
        fsops.reset_faults()
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def sweep(base: Path, dest_base: Path, move_impl=None, check_undo=True) -> tuple[int, list[str]]:
    cases, problems = 0, []
    for point in POINTS:
        for k in range(1, 40):
            work, dwork = base / f"{point}-{k}", dest_base / f"{point}-{k}"
            root, dest = work / "lib", dwork / "out"
            originals = make_library(root)
            plan = make_plan(root, dest)
            before = digests(root, dest)

            def go():
                if move_impl:
                    fsops.move_file = move_impl
                apply(plan)
            killed = run_killed(go, f"{point}:{k}")
            cases += 1
            problems += [f"{point}:{k}: {p}" for p in check_after_kill(plan, originals)]
            mover.recover(Layout.of(root))
            if digests(root, dest) != before:
                problems.append(f"{point}:{k}: files lost or duplicated after recovery")
            if temp_files(root, dest):
                problems.append(f"{point}:{k}: temporary files left after recovery")
            if check_undo and killed:
                # finish the apply, then undo with the same fault armed, resume, and compare with the original
                apply(Plan.from_json(plan.to_json()))
                run_killed(lambda: undo(root), f"{point}:{k}")
                # Resume the killed undo, then undo the earlier (recovered) run too: one undo per run.
                for _ in range(4):
                    try:
                        undo(root)
                    except ManifestError:   # nothing left to undo
                        break
                for name, data in originals.items():
                    p = os.path.join(os.fsencode(root), name)
                    if not os.path.exists(p) or open(p, "rb").read() != data:
                        problems.append(f"{point}:{k}: undo did not restore {name!r}")
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(dwork, ignore_errors=True)
            if not killed:
                break   # this point is hit fewer than k times
    return cases, problems


def test_kill_sweep_same_filesystem(tmp_path):
    cases, problems = sweep(tmp_path / "a", tmp_path / "a")
    assert cases > 40
    assert problems == []


@needs_shm
def test_kill_sweep_across_filesystems(tmp_path):
    shm = Path(os.path.realpath(SHM)) / f"organizer-test-{os.getpid()}"
    try:
        cases, problems = sweep(tmp_path, shm)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    assert cases > 40
    assert problems == []


def naive_move(src: Path, dst: Path, tmp: Path) -> os.stat_result:
    """What careless movers do: write straight to the final name, then delete the source."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(4096):
            fsops.fault("copy")
            fout.write(chunk)
    os.unlink(src)
    return os.stat(dst)


@needs_shm
def test_sweep_catches_a_naive_mover(tmp_path):
    shm = Path(os.path.realpath(SHM)) / f"organizer-naive-{os.getpid()}"
    try:
        _, problems = sweep(tmp_path, shm, move_impl=naive_move, check_undo=False)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    assert any("differs from its original under its final name" in p for p in problems)


# --------------------------------------------------------------------------------------------- I/O faults
@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "lib"
    originals = make_library(root)
    return root, originals


@pytest.mark.parametrize("fault, cross", [
    ("copy:2:ENOSPC", True), ("copy:1:EIO", True), ("fsync:1:EIO", True), ("publish:1:EACCES", False),
    ("publish:2:EROFS", False), ("unlink_src:1:EACCES", False), ("unlink_src:1:EPERM", True),
])
def test_io_faults_lose_nothing(lib, tmp_path, monkeypatch, fault, cross):
    root, originals = lib
    dest = Path(os.path.realpath(SHM)) / f"organizer-io-{os.getpid()}" if cross else tmp_path / "out"
    if cross and not os.access(SHM, os.W_OK):
        pytest.skip("/dev/shm not writable")
    try:
        plan = make_plan(root, dest)
        monkeypatch.setenv(fsops.FAULT_ENV, fault)
        fsops.reset_faults()
        report = apply(plan)
        monkeypatch.delenv(fsops.FAULT_ENV)
        assert len(report.failed) == 1 and "stayed where it was" in report.failed[0][1]
        assert check_after_kill(plan, originals) == []
        assert temp_files(root, dest) == []
        expected = sorted(hashlib.sha256(d).hexdigest() for d in originals.values())
        if "unlink_src" not in fault:
            assert digests(root, dest) == expected
    finally:
        if cross:
            shutil.rmtree(dest, ignore_errors=True)


def test_destination_created_before_publish_is_not_overwritten(lib, tmp_path, monkeypatch):
    root, originals = lib
    dest = tmp_path / "out"
    plan = make_plan(root, dest)
    real_publish = fsops.publish

    def racing_publish(src, dst):
        if not os.path.exists(dst):
            Path(dst).write_bytes(b"someone else's file")
        return real_publish(src, dst)
    monkeypatch.setattr(fsops, "publish", racing_publish)
    report = apply(plan)
    assert report.moved == 0 and len(report.failed) == len(plan.moves)
    assert all("nothing was overwritten" in r for _, r in report.failed)
    for name, data in originals.items():
        assert open(os.path.join(os.fsencode(root), name), "rb").read() == data


def test_changed_or_vanished_source_is_skipped(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    (root / "one.mp4").write_bytes(b"changed!")
    (root / "page.mp4").unlink()
    report = apply(plan)
    reasons = dict(report.skipped)
    assert "changed since planning" in reasons["one.mp4"]
    assert "no longer exists" in reasons["page.mp4"]
    assert report.moved == len(plan.moves) - 2


def test_names_round_trip_through_manifest_journal_and_undo(lib, tmp_path):
    root, originals = lib
    dest = tmp_path / "out"
    plan = Plan.from_json(make_plan(root, dest).to_json())   # through the manifest
    collided = [m for m in plan.moves if m.src == LONG][0]
    assert len(os.fsencode(collided.dst.split("/")[1])) == 255 and collided.dst.endswith(" (2).mp4")
    mtimes = {n: os.stat(os.path.join(os.fsencode(root), n)).st_mtime_ns for n in originals}
    report = apply(plan)
    assert report.moved == len(NAMES) and not report.failed
    for m in plan.moves:
        assert open(os.path.join(os.fsencode(dest), os.fsencode(m.dst)), "rb").read() == originals[os.fsencode(m.src)]
    undone = undo(root)
    assert undone.moved == len(NAMES)
    for name, data in originals.items():
        p = os.path.join(os.fsencode(root), name)
        assert open(p, "rb").read() == data and os.stat(p).st_mtime_ns == mtimes[name]
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
    report = undo(root)
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert "is taken" in reasons[os.path.basename(m0.dst)]
    assert "changed since organize moved it" in reasons[os.path.basename(m1.dst)]
    assert (root / m0.src).read_bytes() == b"a new file took the old name"


def test_undo_dry_run_and_runs_listing(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    first = apply(plan)
    preview = undo(root, dry_run=True)
    assert preview.moved == len(plan.moves)
    assert all(os.path.exists(os.path.join(os.fsencode(tmp_path / "out"), os.fsencode(m.dst))) for m in plan.moves)
    runs = mover.list_runs(Layout.of(root))
    assert [(r.id, r.kind, r.moved, r.status) for r in runs] == [(first.run_id, "apply", len(plan.moves), "complete")]
    undo(root, run_id=first.run_id)
    assert mover.list_runs(Layout.of(root))[0].status == "undone"
    with pytest.raises(ManifestError, match="no applied run to undo"):
        undo(root)


def test_manifest_cannot_escape_root_or_dest(lib, tmp_path):
    root, _ = lib
    plan = make_plan(root, tmp_path / "out")
    data = plan.to_json()
    for evil in ('"../../etc/passwd"', '"/etc/passwd"'):
        bad = data.replace('"src": "one.mp4"', f'"src": {evil}', 1)
        with pytest.raises(ManifestError, match="Unsafe path"):
            Plan.from_json(bad)
    # a symlinked cluster folder that leads outside dest
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, tmp_path / "out" / "cluster-01")
    report = apply(plan)
    assert list(outside.iterdir()) == []
    assert all("outside" in r or "not a plain folder" in r for _, r in report.skipped + report.failed
               if "cluster-01" in r or "outside" in r)
    assert report.moved == len([m for m in plan.moves if m.cluster == "cluster-02"])


def test_second_concurrent_run_is_refused(tmp_path):
    with library_lock(Layout.of(tmp_path)):
        with pytest.raises(LockBusy, match="Another organize run"):
            with library_lock(Layout.of(tmp_path)):
                pass


def test_lock_left_by_a_killed_process_does_not_block(tmp_path):
    code = ("import os,sys; sys.path.insert(0, %r); from organizer.library import library_lock\n"
            "from organizer.layout import Layout\n"
            "with library_lock(Layout.of(%r)):\n    os.kill(os.getpid(), 9)") % (str(Path(__file__).parent.parent), str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    with library_lock(Layout.of(tmp_path)):
        pass


def test_recovery_then_journal_is_closed(lib, tmp_path):
    root, originals = lib
    plan = make_plan(root, tmp_path / "out")
    assert run_killed(lambda: apply(plan), "unlink_src:3")
    runs = mover.list_runs(Layout.of(root))
    assert runs[0].status == "interrupted"
    assert mover.recover(Layout.of(root)) == 1
    assert mover.list_runs(Layout.of(root))[0].status == "recovered"
    assert mover.recover(Layout.of(root)) == 0
