"""Apply a plan with a journal, and recover runs a crash interrupted. Undo lives in undo.py.

Each move works on folders opened once as descriptors (fsops.walk: O_DIRECTORY | O_NOFOLLOW, a component at a
time), so a folder swapped for a symbolic link is refused, never followed. Same filesystem: link, fsync the folder,
unlink the source. Across filesystems: copy to an unguessable temporary name (O_EXCL), fsync, publish with no
replace, fsync the folder, verify, then unlink the source. A source that cannot be removed is rolled back: the copy
is removed again, so no second copy is left behind.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from . import fsops
from .fsops import Dir
from .journal import Journal, header, new_run_id, open_ops, read_journal, journal_paths
from .errors import ManifestError
from .layout import Layout
from .planner import Plan

log = logging.getLogger(__name__)

# A move's ends: ("root" | "dest", path relative to it).
Place = tuple[str, str]


@dataclass
class ApplyReport:
    run_id: str = ""
    moved: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)                  # sources that could not be removed
    recovered: int = 0
    removed_dirs: int = 0
    note: str = ""


class Stuck(OSError):
    """The copy was published but the source could not be removed; the copy was removed again."""


@dataclass
class Ends:
    """The two folders a run works in, open as descriptors."""

    root: Dir
    dest: Dir

    def of(self, base: str) -> Dir:
        return self.root if base == "root" else self.dest

    def close(self) -> None:
        self.root.close()
        self.dest.close()


def open_ends(root: str, dest: str, journal: Journal | None = None) -> Ends:
    """Open root and dest (dest and its missing parents are created, each journaled so undo can remove it)."""
    try:
        root_dir = fsops.open_dir(root)
    except OSError as exc:
        raise ManifestError(f"The plan's root {root} cannot be opened ({exc.strerror}); nothing was moved. Check "
                            "the manifest, or re-run the dry run.") from None
    try:
        if not os.path.isdir(dest) and journal is not None:
            missing, cur = [], os.path.abspath(dest)
            while not os.path.lexists(cur):
                missing.append(cur)
                cur = os.path.dirname(cur)
            for path in reversed(missing):
                journal.write({"type": "mkdir", "base": "dest", "rel": os.path.relpath(path, dest), "abs": path})
                os.mkdir(path)
        return Ends(root_dir, fsops.open_dir(dest))
    except OSError as exc:
        root_dir.close()
        raise ManifestError(f"The plan's dest {dest} cannot be opened or created ({exc.strerror}); nothing was "
                            "moved. Check the manifest, or choose another --dest.") from None


def split(rel: str) -> tuple[list[str], str]:
    parts = list(PurePosixPath(rel).parts)
    return parts[:-1], parts[-1]


def _reason(exc: OSError, dst: str) -> str:
    if isinstance(exc, Stuck):
        return (f"could not be removed from its folder ({exc.strerror}); the copy was removed again and the file was "
                "left where it was. It is not tried again until it changes, or with --retry-failed")
    if exc.errno == errno.EEXIST:
        return f"{dst} appeared before the move; nothing was overwritten and the file stayed where it was"
    if exc.errno == errno.ENOSPC:
        return "the destination disk is full; the file stayed where it was"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied ({exc.strerror}); the file stayed where it was"
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a folder on the way is a symbolic link or not a folder (never followed); the file stayed where it was"
    return f"{exc.strerror or exc}; the file stayed where it was"


def check_source(d: Dir, name: str, size: int, mtime_ns: int, ino: int = 0) -> tuple[os.stat_result | None, str]:
    st = fsops.stat_at(d, name)
    if st is None:
        return None, "no longer exists (moved or deleted since planning)"
    if not stat.S_ISREG(st.st_mode):
        return None, "is no longer a regular file; not touched"
    if st.st_size != size or st.st_mtime_ns != mtime_ns or (ino and st.st_ino != ino):
        return None, "changed since planning (size, time or identity differ); re-run the dry run to include it"
    return st, ""


def transfer(journal: Journal, op: int, sd: Dir, sname: str, dd: Dir, dname: str, st: os.stat_result,
             tmp: str) -> os.stat_result:
    """Move sd/sname (whose stat is st) to dd/dname; returns the destination's stat. Raises OSError (nothing
    changed, or the change undone) or Stuck (published, source not removable, copy removed again)."""
    if not tmp:                                         # same filesystem: a second name for the same inode
        renamed = fsops.publish(sd, sname, dd, dname)
        new = fsops.stat_at(dd, dname)
        if new is None or new.st_ino != st.st_ino:     # the source was swapped between the check and now
            if renamed:
                fsops.rename_noreplace(dd, dname, sd, sname)
            elif new is not None:
                fsops.remove(dd, dname, new.st_ino)
            raise OSError(errno.ESTALE, "the source was replaced while it was being moved; nothing was moved")
        if renamed:                                     # no hard links here: the one name moved
            fsops.fsync_dir(dd)
            fsops.fsync_dir(sd)
            return new
        published = new.st_ino
    else:
        published = _copy_across(journal, op, sd, sname, dd, dname, st, tmp)
    try:
        fsops.fsync_dir(dd)
        fsops.fault("after_publish")
    except OSError:
        fsops.remove(dd, dname, published)         # not known to be on disk: take the new name back
        raise
    try:
        fsops.unlink_source(sd, sname, st.st_ino)
    except OSError as exc:
        fsops.remove(dd, dname, published)
        fsops.fsync_dir(dd)
        raise Stuck(exc.errno, exc.strerror or str(exc)) from None
    try:
        fsops.fsync_dir(sd)
    except OSError as exc:                          # the move is made; only its folder's flush failed
        log.warning("%s: flushing %s failed (%s); the move is complete", dname, sd.path, exc.strerror)
    return fsops.stat_at(dd, dname)


def _copy_across(journal: Journal, op: int, sd: Dir, sname: str, dd: Dir, dname: str, st: os.stat_result,
                 tmp: str) -> int:
    src_fd, src_st = fsops.open_regular(sd, sname)
    try:
        if (src_st.st_ino, src_st.st_size, src_st.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
            raise OSError(errno.ESTALE, "the source changed while it was being moved")
        name, tmp_fd = fsops.create_temp(dd, tmp)
        tmp_ino = os.fstat(tmp_fd).st_ino
        try:
            journal.write({"type": "tmp", "op": op, "name": name, "ino": tmp_ino})
            fsops.copy_durable(src_fd, src_st, tmp_fd)
            fsops.publish(dd, name, dd, dname)
        finally:
            os.close(tmp_fd)
            fsops.remove(dd, name, tmp_ino)
        dst_fd, _ = fsops.open_regular(dd, dname)
        try:
            if not fsops.same_content(src_fd, dst_fd):
                fsops.remove(dd, dname, tmp_ino)
                raise OSError(errno.EIO, "the copy differs from the original after writing; the original was kept")
        finally:
            os.close(dst_fd)
        return tmp_ino
    finally:
        os.close(src_fd)


def move_one(journal: Journal, ends: Ends, op: int, src: Place, dst: Place, expect: tuple[int, int, int],
             cluster: str, report: ApplyReport, label: str, changed: str | None = None, **extra) -> bool:
    """One journaled move from src to dst, expecting (size, mtime_ns, ino) at src. True when the file moved.
    `changed` replaces the sentence for a source that is not as expected (undo says it differently)."""
    try:
        sparts, sname = split(src[1])
        dparts, dname = split(dst[1])
        with fsops.walk(ends.of(src[0]), sparts) as sd:
            st, why = check_source(sd, sname, *expect)
            if st is None:
                report.skipped.append((label, changed if changed and "changed" in why else why))
                return False
            on_create = lambda path: journal.write({"type": "mkdir", "base": dst[0],  # noqa: E731
                                                    "rel": os.path.relpath(path, ends.of(dst[0]).path)})
            with fsops.walk(ends.of(dst[0]), dparts, create=True, on_create=on_create) as dd:
                if fsops.stat_at(dd, dname) is not None:
                    report.skipped.append((label, f"its destination {dst[1]} is taken; nothing was overwritten"))
                    return False
                tmp = "" if os.fstat(sd.fd).st_dev == os.fstat(dd.fd).st_dev else fsops.temp_name()
                journal.write({"type": "intent", "op": op, "from": list(src), "to": list(dst), "tmp": tmp,
                               "size": st.st_size, "mtime_ns": st.st_mtime_ns, "dev": st.st_dev,
                               "ino": st.st_ino, "cluster": cluster, **extra})
                return _finish(journal, op, sd, sname, dd, dname, st, tmp, report, label)
    except OSError as exc:
        report.failed.append((label, _reason(exc, dst[1])))
        return False


def _finish(journal, op, sd, sname, dd, dname, st, tmp, report, label) -> bool:
    try:
        new = transfer(journal, op, sd, sname, dd, dname, st, tmp)
    except Stuck as exc:
        journal.write({"type": "rolled_back", "op": op, "errno": exc.errno, "reason": _reason(exc, dname)})
        report.failed.append((label, _reason(exc, dname)))
        report.stuck.append(label)
        return False
    except OSError as exc:
        journal.write({"type": "failed", "op": op, "errno": exc.errno, "reason": _reason(exc, dname)})
        report.failed.append((label, _reason(exc, dname)))
        return False
    journal.write({"type": "done", "op": op, "dst_ino": new.st_ino, "dst_mtime_ns": new.st_mtime_ns,
                   "dst_size": new.st_size})
    report.moved += 1
    return True


def apply_plan(plan: Plan, layout: Layout | None = None) -> ApplyReport:
    """Execute exactly the moves of a plan, re-checking each file; never overwrites. The caller holds the lock
    and has recovered interrupted runs."""
    plan.validate()
    layout = layout or Layout.of(plan.root)
    report = ApplyReport(run_id=new_run_id())
    with Journal(layout.journal_dir / f"{report.run_id}.jsonl") as journal:
        journal.write(header(report.run_id, "apply", plan.root, plan.dest, plan=plan.id, planned=len(plan.moves)))
        ends = open_ends(plan.root, plan.dest, journal)
        try:
            for op, move in enumerate(plan.moves):
                move_one(journal, ends, op, ("root", move.src), ("dest", move.dst),
                         (move.size, move.mtime_ns, move.ino), move.cluster, report, move.src)
        finally:
            ends.close()
        journal.write({"type": "end", "moved": report.moved, "skipped": len(report.skipped),
                       "failed": len(report.failed)})
    return report


# ---------------------------------------------------------------------------------------------- recovery
def recover(layout: Layout) -> int:
    """Close every unfinished journal; returns how many operations were finished or rolled back."""
    count = 0
    for path in journal_paths(layout):
        records = read_journal(path)
        if not records or records[-1]["type"] == "end":
            continue
        head = records[0] if records[0]["type"] == "run" else {}
        tmps = {r["op"]: r for r in records if r["type"] == "tmp"}
        with Journal(path) as journal:
            ends = _open_for_recovery(head)
            try:
                for intent in open_ops(records):
                    kind, extra = resolve_open(intent, tmps.get(intent["op"]), ends)
                    journal.write({"type": kind, "op": intent["op"], **extra})
                    count += 1
            finally:
                if ends is not None:
                    ends.close()
            journal.write({"type": "end", "recovered": True})
    return count


def _open_for_recovery(head: dict) -> Ends | None:
    try:
        return Ends(fsops.open_dir(head["root"]), fsops.open_dir(head["dest"]))
    except (OSError, KeyError, TypeError):
        return None


def resolve_open(intent: dict, tmp: dict | None, ends: Ends | None) -> tuple[str, dict]:
    """Finish or roll back one interrupted operation; returns (closing type, extra fields). Only what this
    operation created (known by inode) is ever removed."""
    if ends is None:
        return "rolled_back", {"reason": "its folders cannot be opened any more; both places were left as they are"}
    sparts, sname = split(intent["from"][1])
    dparts, dname = split(intent["to"][1])
    try:
        with fsops.walk(ends.of(intent["from"][0]), sparts) as sd, \
                fsops.walk(ends.of(intent["to"][0]), dparts) as dd:
            return _resolve_in(intent, tmp, sd, sname, dd, dname)
    except OSError:
        return "rolled_back", {"reason": "a folder on the way is gone or is not a folder; nothing was changed"}


def _resolve_in(intent: dict, tmp: dict | None, sd: Dir, sname: str, dd: Dir, dname: str) -> tuple[str, dict]:
    src, dst = fsops.stat_at(sd, sname), fsops.stat_at(dd, dname)
    ours = {intent["ino"]} | ({tmp["ino"]} if tmp else set())
    published = dst is not None and dst.st_ino in ours
    if tmp:
        fsops.remove(dd, tmp["name"], tmp["ino"])
    elif intent.get("tmp"):
        _remove_empty(dd, intent["tmp"])
    if published and src is not None and src.st_ino == intent["ino"]:
        if dst.st_ino != src.st_ino and not _same(sd, sname, dd, dname):
            fsops.remove(dd, dname, dst.st_ino)
            return "rolled_back", {"reason": "the copy differed from the source; the copy was removed"}
        try:
            fsops.unlink_source(sd, sname, intent["ino"])
        except OSError as exc:
            fsops.remove(dd, dname, dst.st_ino)
            return "rolled_back", {"reason": f"the source could not be removed ({exc.strerror}); the copy was "
                                             "removed again"}
        fsops.fsync_dir(sd)
    elif not published:
        return "rolled_back", {}                          # nothing was published: the source is as it was
    new = fsops.stat_at(dd, dname)
    return "done", {"dst_ino": new.st_ino, "dst_mtime_ns": new.st_mtime_ns, "dst_size": new.st_size,
                    "recovered": True}


def _same(sd: Dir, sname: str, dd: Dir, dname: str) -> bool:
    a, _ = fsops.open_regular(sd, sname)
    try:
        b, _ = fsops.open_regular(dd, dname)
        try:
            return fsops.same_content(a, b)
        finally:
            os.close(b)
    finally:
        os.close(a)


def _remove_empty(d: Dir, name: str) -> None:
    """A temporary file a crash left before its inode was journaled: created, never written (empty)."""
    st = fsops.stat_at(d, name)
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == 0:
        fsops.remove(d, name, st.st_ino)
