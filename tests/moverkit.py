"""Helpers for the mover tests: a library of awkward files, plans over it, kills, and what must hold after."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

import pytest

from organizer.moves import fsops, mover, recovery
from organizer.moves import undo as undo_module
from organizer.layout import Layout
from organizer.moves.plan import Plan
from organizer.moves.planner import build_plan
from organizer.scan import scan

SHM = Path("/dev/shm")
needs_shm = pytest.mark.skipif(not SHM.is_dir() or not os.access(SHM, os.W_OK), reason="/dev/shm not writable")

LONG = "x" * 251 + ".mp4"   # 255 bytes
LARGE = 3 * (1 << 20) + 1   # several copy chunks: kills land inside a copy
NAMES = [b"zero.mp4", b"one.mp4", b"-dash.mp4", b"new\nline.mp4", b"quote'\"s.mp4",
         unicodedata.normalize("NFC", "caf\u00e9.mp4").encode(), unicodedata.normalize("NFD", "caf\u00e9.mp4").encode(),
         b"\xff\xfe-not-utf8.mp4", LONG.encode(), b"big.mp4", b"esc\x1b[2J.mp4", b"large.mp4"]
SIZES = [0, 1, 4095, 65536, 65537, 300_000, 2, 3, 4, 400_000, 4096, LARGE]


def make_library(root: Path, names=NAMES, sizes=SIZES) -> dict[bytes, bytes]:
    root.mkdir(parents=True, exist_ok=True)
    originals = {}
    for i, (name, size) in enumerate(zip(names, sizes)):
        data = (hashlib.sha256(name).digest() * (size // 32 + 1))[:size]
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


def apply(plan: Plan) -> mover.ApplyReport:
    """What the library service does with the files: finish interrupted runs, then apply."""
    layout = Layout.of(plan.root)
    recovery.recover(layout)
    return mover.apply_plan(plan, layout)


def undo(root: Path, **kw) -> mover.ApplyReport:
    layout = Layout.of(root)
    if not kw.get("dry_run"):
        recovery.recover(layout)
    return undo_module.undo(layout, **kw)


def files(*folders: Path) -> dict[bytes, tuple[bytes, int]]:
    """path -> (bytes, mtime_ns) for every file under the folders, outside .organizer."""
    out = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
            dirnames[:] = [d for d in dirnames if d != b".organizer"]
            for name in filenames:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as fh:
                    out[path] = (fh.read(), os.stat(path).st_mtime_ns)
    return out


def digests(*folders: Path) -> list[str]:
    return sorted(hashlib.sha256(data).hexdigest() for path, (data, _) in files(*folders).items()
                  if data != b"already here")


def temp_files(*folders: Path) -> list[str]:
    return [os.path.join(d, n) for f in folders for d, _, ns in os.walk(f) for n in ns if ".organizer-tmp" in n]


def check_after_kill(plan: Plan, originals: dict[bytes, bytes]) -> list[str]:
    """Every original is whole at its source or its destination; nothing under a final name differs from it."""
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
    """Run fn in a forked child with the fault armed; True if the child was killed by it. A child that fails
    with an exception instead is a test failure (exit code 3), never a silent success."""
    pid = os.fork()
    if pid == 0:   # child
        code = 0
        try:
            os.environ[fsops.FAULT_ENV] = fault
            fsops.reset_faults()
            fn()
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        raise AssertionError(f"the child raised instead of being killed at {fault} (exit {os.WEXITSTATUS(status)})")
    return os.WIFSIGNALED(status)


def cross_dest(tmp_path: Path, name: str) -> Path:
    """A folder on another filesystem than tmp_path (/dev/shm)."""
    return Path(os.path.realpath(SHM)) / f"organizer-{name}-{os.getpid()}-{tmp_path.name}"
