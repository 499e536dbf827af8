"""Apply a plan with a journal; recover interrupted runs; undo; one run per library (flock).

Journal: PATH/.organizer/journal/<run id>.jsonl, JSON Lines, fsync after each record. Per operation an
`intent` record before anything happens, then exactly one closing record: done, failed, skipped or rolled_back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from . import fsops
from .clock import now_iso, stamp
from .errors import ManifestError
from .layout import Layout
from .planner import Plan, check_relative

log = logging.getLogger(__name__)

CLOSING = ("done", "failed", "skipped", "rolled_back")


class Journal:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: dict) -> None:
        fsops.fault("journal")
        data = (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")
        os.write(self._fd, data)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read_journal(path: Path) -> list[dict]:
    """Records of a journal; a torn last line (crash mid-write) is ignored."""
    records = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            log.debug("ignoring a torn journal line in %s", path)
    return records


def new_run_id() -> str:
    return stamp(micro=True) + "-" + secrets.token_hex(2)


@dataclass
class ApplyReport:
    run_id: str = ""
    moved: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)
    recovered: int = 0
    removed_dirs: int = 0


def _inside(base: Path, rel: str) -> Path:
    """base/rel, refusing anything that resolves outside base (.., absolute, symlinked folders)."""
    check_relative(rel, rel)
    path = base / rel
    real_parent = os.path.realpath(path.parent)
    real_base = os.path.realpath(base)
    if real_parent != real_base and not real_parent.startswith(real_base.rstrip(os.sep) + os.sep):
        raise ManifestError(f"{rel!r} leads outside {base} (through a symbolic link); refusing to touch it.")
    return path


def _intent(op: int, src: Path, dst: Path, tmp: Path, st: os.stat_result, cluster: str, **extra) -> dict:
    return {"type": "intent", "op": op, "src": os.fsdecode(src), "dst": os.fsdecode(dst), "tmp": os.fsdecode(tmp),
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "dev": st.st_dev, "ino": st.st_ino,
            "cluster": cluster, **extra}


def _move_op(journal: Journal, op: int, src: Path, dst: Path, st: os.stat_result, cluster: str,
             report: ApplyReport, **extra) -> None:
    tmp = dst.parent / f".organizer-tmp-{op}"
    journal.write(_intent(op, src, dst, tmp, st, cluster, **extra))
    try:
        dst_st = fsops.move_file(src, dst, tmp)
    except OSError as exc:
        reason = _os_reason(exc, dst)
        journal.write({"type": "failed", "op": op, "errno": exc.errno, "reason": reason})
        report.failed.append((os.fsdecode(src), reason))
        return
    journal.write({"type": "done", "op": op, "dst_ino": dst_st.st_ino, "dst_mtime_ns": dst_st.st_mtime_ns,
                   "dst_size": dst_st.st_size})
    report.moved += 1


def _os_reason(exc: OSError, dst: Path) -> str:
    if exc.errno == errno.EEXIST:
        return f"{dst} appeared before the move; nothing was overwritten and the file stayed where it was"
    if exc.errno == errno.ENOSPC:
        return "the destination disk is full; the file stayed where it was"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied ({exc.strerror}); the file stayed where it was"
    return f"{exc.strerror or exc} ; the file stayed where it was".replace(" ;", ";")


def _check_source(src: Path, size: int, mtime_ns: int, ino: int = 0) -> tuple[os.stat_result | None, str | None]:
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return None, "no longer exists (moved or deleted since planning)"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return None, "is no longer a regular file; not touched"
    if st.st_size != size or st.st_mtime_ns != mtime_ns or (ino and st.st_ino != ino):
        return None, "changed since planning (size, time or identity differ); re-run the dry run to include it"
    return st, None


def _ensure_dir(journal: Journal, folder: Path, base: Path) -> None:
    """Create folder (and missing parents below base), journaling each one so undo can remove it."""
    missing = []
    cur = folder
    while not os.path.lexists(cur) and cur != base:
        missing.append(cur)
        cur = cur.parent
    for path in reversed(missing):
        journal.write({"type": "mkdir", "path": os.fsdecode(path)})
        try:
            fsops.make_dir(path)
        except FileExistsError:
            pass
    if os.path.islink(folder) or not os.path.isdir(folder):
        raise ManifestError(f"{folder} is not a plain folder (a file or symbolic link is in the way).")


def apply_plan(plan: Plan, layout: Layout | None = None) -> ApplyReport:
    """Execute exactly the moves of a plan, re-checking each file; never overwrites. The caller holds the lock
    and has recovered interrupted runs."""
    plan.validate()
    root, dest = Path(plan.root), Path(plan.dest)
    layout = layout or Layout.of(root)
    report = ApplyReport()
    report.run_id = run_id = new_run_id()
    journal = Journal(layout.journal_dir / f"{run_id}.jsonl")
    try:
        journal.write({"type": "run", "id": run_id, "kind": "apply", "root": plan.root, "dest": plan.dest,
                       "created": now_iso(),
                       "planned": len(plan.moves)})
        for op, move in enumerate(plan.moves):
            try:
                src, dst = _inside(root, move.src), _inside(dest, move.dst)
            except ManifestError as exc:
                report.skipped.append((move.src, str(exc)))
                continue
            st, why = _check_source(src, move.size, move.mtime_ns, move.ino)
            if why is None and os.path.lexists(dst):
                why = f"its destination {move.dst} already exists; nothing was overwritten"
            if why:
                report.skipped.append((move.src, why))
                continue
            try:
                _ensure_dir(journal, dst.parent, dest)
                _inside(dest, move.dst)   # re-check now the folder exists
            except (OSError, ManifestError) as exc:
                report.failed.append((move.src, f"cannot create {dst.parent}: {exc}"))
                continue
            _move_op(journal, op, src, dst, st, move.cluster, report)
        journal.write({"type": "end", "moved": report.moved, "skipped": len(report.skipped),
                       "failed": len(report.failed)})
    finally:
        journal.close()
    return report


# ---------------------------------------------------------------------------------------------- recovery
def _open_ops(records: list[dict]) -> list[dict]:
    closed = {r["op"] for r in records if r.get("type") in CLOSING}
    return [r for r in records if r.get("type") == "intent" and r["op"] not in closed]


def _resolve_open(intent: dict) -> tuple[str, dict]:
    """Finish or roll back one interrupted operation; returns (closing type, extra fields)."""
    src, dst, tmp = Path(intent["src"]), Path(intent["dst"]), Path(intent["tmp"])
    src_st = _lstat(src)
    dst_st = _lstat(dst)
    ours = src_st is not None and src_st.st_ino == intent["ino"] and src_st.st_dev == intent["dev"]
    if dst_st is not None and src_st is not None and (dst_st.st_dev, dst_st.st_ino) == (src_st.st_dev, src_st.st_ino):
        os.unlink(src)                      # linked but the source name not yet removed: finish
        fsops.fsync_dir(src.parent)
        closing = ("done", _done_fields(dst))
    elif dst_st is not None and src_st is None:
        closing = ("done", _done_fields(dst))   # the move completed; only its record is missing
    elif dst_st is not None and ours:
        if fsops.same_content(src, dst):
            os.unlink(src)                  # cross-filesystem copy published and verified: finish
            fsops.fsync_dir(src.parent)
            closing = ("done", _done_fields(dst))
        else:
            closing = ("rolled_back", {"reason": "destination differs from the source; both kept"})
    else:
        closing = ("rolled_back", {})        # nothing was published: the source is intact
    if os.path.lexists(tmp):
        os.unlink(tmp)
    return closing


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _done_fields(dst: Path) -> dict:
    st = os.lstat(dst)
    return {"dst_ino": st.st_ino, "dst_mtime_ns": st.st_mtime_ns, "dst_size": st.st_size, "recovered": True}


def journal_paths(layout: Layout) -> list[Path]:
    folder = layout.journal_dir
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def recover(layout: Layout) -> int:
    """Close every unfinished journal; returns how many operations were finished or rolled back."""
    count = 0
    for path in journal_paths(layout):
        records = read_journal(path)
        if records and records[-1].get("type") == "end":
            continue
        journal = Journal(path)
        try:
            for intent in _open_ops(records):
                kind, extra = _resolve_open(intent)
                journal.write({"type": kind, "op": intent["op"], **extra})
                count += 1
            journal.write({"type": "end", "recovered": True})
        finally:
            journal.close()
    return count


# ---------------------------------------------------------------------------------------------- runs & undo
@dataclass
class RunInfo:
    id: str
    kind: str
    created: str
    moved: int
    undone: int
    status: str
    undo_of: str | None = None


def _done_ops(records: list[dict]) -> dict[int, tuple[dict, dict]]:
    intents = {r["op"]: r for r in records if r.get("type") == "intent"}
    return {r["op"]: (intents[r["op"]], r) for r in records if r.get("type") == "done" and r["op"] in intents}


def list_runs(layout: Layout) -> list[RunInfo]:
    runs: list[RunInfo] = []
    undone_by: dict[str, set] = {}
    parsed = [(p, read_journal(p)) for p in journal_paths(layout)]
    for _, records in parsed:
        head = records[0] if records else {}
        if head.get("kind") == "undo":
            undone_by.setdefault(head.get("undo_of"), set()).update(
                i["of_op"] for i, _ in _done_ops(records).values())
    for path, records in parsed:
        head = records[0] if records else {"id": path.stem, "kind": "?"}
        done = _done_ops(records)
        undone = len(undone_by.get(head.get("id"), set()) & set(done)) if head.get("kind") == "apply" else 0
        end = records[-1] if records else {}
        status = "interrupted" if end.get("type") != "end" else ("recovered" if end.get("recovered") else "complete")
        if head.get("kind") == "apply" and done and undone == len(done):
            status = "undone"
        elif undone:
            status = "partly undone"
        runs.append(RunInfo(head.get("id", path.stem), head.get("kind", "?"), head.get("created", ""),
                            len(done), undone, status, head.get("undo_of")))
    return runs


def undo(layout: Layout, run_id: str | None = None, dry_run: bool = False) -> ApplyReport:
    """Move back the files of an apply run (the latest not fully undone, or run_id), newest first. The caller
    holds the lock."""
    root = layout.root
    report = ApplyReport(recovered=0 if dry_run else recover(layout))
    runs = [r for r in list_runs(layout) if r.kind == "apply"]
    if run_id is None:
        candidates = [r for r in runs if r.moved and r.status != "undone"]
        if not candidates and report.recovered:
            return report       # finishing an interrupted undo was all that was left to do
        if not candidates:
            raise ManifestError(f"There is no applied run to undo in {root}; `organize runs {root}` lists them.")
        target = candidates[-1]
    else:
        matches = [r for r in runs if r.id == run_id]
        if not matches:
            raise ManifestError(f"No applied run {run_id!r} in {root}; `organize runs {root}` lists them.")
        target = matches[0]
    records = read_journal(layout.journal_dir / f"{target.id}.jsonl")
    already = set()
    for path in journal_paths(layout):
        recs = read_journal(path)
        if recs and recs[0].get("kind") == "undo" and recs[0].get("undo_of") == target.id:
            already |= {i["of_op"] for i, _ in _done_ops(recs).values()}
    todo = [(op, pair) for op, pair in sorted(_done_ops(records).items(), reverse=True) if op not in already]
    report.run_id = target.id
    if dry_run:
        for _, (intent, done) in todo:
            why = _undo_problem(intent, done)
            if why:
                report.skipped.append((intent["dst"], why))
            else:
                report.moved += 1
        return report
    journal = Journal(layout.journal_dir / f"{new_run_id()}.jsonl")
    try:
        journal.write({"type": "run", "id": journal.path.stem, "kind": "undo", "undo_of": target.id,
                       "created": now_iso()})
        for n, (op, (intent, done)) in enumerate(todo):
            why = _undo_problem(intent, done)
            if why:
                report.skipped.append((intent["dst"], why))
                continue
            cur, back = Path(intent["dst"]), Path(intent["src"])
            try:
                _ensure_dir(journal, back.parent, Path(root))
            except (OSError, ManifestError) as exc:
                report.failed.append((intent["dst"], f"cannot recreate {back.parent}: {exc}"))
                continue
            _move_op(journal, n, cur, back, os.lstat(cur), intent.get("cluster", ""), report, of_op=op)
        for rec in reversed([r for r in records if r.get("type") == "mkdir"]):
            with contextlib.suppress(OSError):   # rmdir only ever removes an empty folder
                os.rmdir(rec["path"])
                report.removed_dirs += 1
        journal.write({"type": "end", "moved": report.moved, "skipped": len(report.skipped),
                       "failed": len(report.failed)})
    finally:
        journal.close()
    return report


def _undo_problem(intent: dict, done: dict) -> str | None:
    cur, back = Path(intent["dst"]), Path(intent["src"])
    st = _lstat(cur)
    if st is None:
        return "is no longer where organize put it; nothing to move back"
    if not stat.S_ISREG(st.st_mode) or st.st_size != done.get("dst_size", intent["size"]) \
            or st.st_mtime_ns != done.get("dst_mtime_ns", intent["mtime_ns"]) \
            or ("dst_ino" in done and st.st_ino != done["dst_ino"]):
        return "changed since organize moved it; left where it is"
    if os.path.lexists(back):
        return f"its original place {back} is taken; nothing was overwritten"
    return None
