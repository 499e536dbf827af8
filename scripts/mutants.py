"""A small mutation runner for the safety path: make one deliberate bug at a time, run the tests that guard that
code, and count the bugs they catch. The source is restored after each mutant, whatever happens.

    .venv/bin/python scripts/mutants.py [--only NAME ...] [--list]

Each mutant names the file, the exact text it replaces (which must occur exactly once), what it breaks, and the
test files to run. A mutant survives when those tests still pass; the score is recorded in docs/DESIGN.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


MOVER = ("tests/test_mover.py", "tests/test_killsweep.py")
MUTANTS = [
    Mutant("no fsync of the copy", "organizer/fsops.py", '    _trace("fsync", "copy")\n    os.fsync(dst_fd)',
           '    pass', MOVER),
    Mutant("no fsync of the destination folder", "organizer/mover.py",
           "    try:\n        fsops.fsync_dir(dd)\n        fsops.fault(\"after_publish\")",
           "    try:\n        fsops.fault(\"after_publish\")", MOVER),
    Mutant("publish with a plain rename", "organizer/fsops.py",
           "        os.link(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd, follow_symlinks=False)\n"
           "        return False",
           "        os.rename(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)\n        return True", MOVER),
    Mutant("renameat2 fallback replaced by a plain rename", "organizer/fsops.py",
           "    rename_noreplace(src, src_name, dst, dst_name)   # filesystems without hard links (FAT, some FUSE)",
           "    os.rename(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)", MOVER),
    Mutant("undo in forward order", "organizer/undo.py",
           "for op, (intent, done) in sorted(done_ops(run.records).items(), reverse=True)",
           "for op, (intent, done) in sorted(done_ops(run.records).items())", MOVER),
    Mutant("forget the .download pattern", "organizer/scan.py", r'r"\.download$", ', "", ("tests/test_scan.py",)),
    Mutant("forget the .!qB pattern", "organizer/scan.py", r'r"\.!qb$", ', "", ("tests/test_scan.py",)),
    Mutant("model left out of the analysis key", "organizer/analysis.py", '{"space": spec.space, **decisive}',
           '{**decisive}', ("tests/test_state.py", "tests/test_structure.py")),
    Mutant("no per-video except Exception", "organizer/workers.py",
           "    except Exception as exc:       # one bad video never aborts the batch",
           "    except ZeroDivisionError as exc:", ("tests/test_engine.py",)),
    Mutant("source identity not checked", "organizer/mover.py",
           "st.st_mtime_ns != mtime_ns or (ino and st.st_ino != ino)", "st.st_mtime_ns != mtime_ns", MOVER),
    Mutant("source size not checked", "organizer/mover.py", "if st.st_size != size or ", "if ", MOVER),
    Mutant("no rollback when the source cannot be removed", "organizer/mover.py",
           "    except OSError as exc:\n        fsops.remove(dd, dname, published)\n        fsops.fsync_dir(dd)\n",
           "    except OSError as exc:\n", MOVER),
    Mutant("temporary files removed by name alone", "organizer/fsops.py",
           "    if st is None or st.st_ino != ino:\n        return False\n    fault(\"unlink\")",
           "    if st is None:\n        return False\n    fault(\"unlink\")", MOVER),
    Mutant("temporary files without O_EXCL", "organizer/fsops.py",
           "os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600",
           "os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600", MOVER),
    Mutant("a torn journal line is not cut", "organizer/journal.py",
           "        os.ftruncate(self._fd, data.rfind(b\"\\n\") + 1)", "        pass", MOVER),
    Mutant("folders followed through links", "organizer/fsops.py",
           "DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC",
           "DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC", MOVER),
    Mutant("manifests may name our own files", "organizer/manifest.py", "    if looks_like_ours(rel):",
           "    if False:", MOVER + ("tests/test_manifest_properties.py",)),
    Mutant("undone moves undone again", "organizer/undo.py", "            if (run.id, op) not in undone]",
           "            ]", MOVER),
    Mutant("no settle time", "organizer/scan.py", "if now - st.st_mtime < settle_seconds:",
           "if False:", ("tests/test_scan.py",)),
    Mutant("outputs replace anything", "organizer/outputs.py", '    return OURS[kind](path)', '    return True',
           ("tests/test_hostile.py",)),
    Mutant("media opened following links", "organizer/decode.py",
           "os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)", "os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)",
           ("tests/test_hostile.py", "tests/test_decode.py")),
]


def run(mutant: Mutant, python: str) -> tuple[bool, float]:
    path = ROOT / mutant.file
    original = path.read_text()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: the text to replace occurs {original.count(mutant.old)} times in "
                         f"{mutant.file}; update the mutant")
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        proc = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
        killed = proc.returncode != 0
    except subprocess.TimeoutExpired:
        killed = True            # a hang is caught too
    finally:
        path.write_text(original)
    return killed, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="run only the mutants whose name contains one of these")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if args.only is None or any(o in m.name for o in args.only)]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.file}")
        return
    killed = 0
    for mutant in chosen:
        caught, seconds = run(mutant, sys.executable)
        killed += caught
        print(f"{'killed  ' if caught else 'SURVIVED'} {mutant.name} ({mutant.file}, {seconds:.0f} s)", flush=True)
    print(f"score: {killed} of {len(chosen)} mutants killed")
    sys.exit(0 if killed == len(chosen) else 1)


if __name__ == "__main__":
    main()
