"""Apply a plan with a journal. Recovery of interrupted runs lives in recovery.py, undo in undo.py.

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

from organizer.moves import fsops
from organizer.digest import sha256_fd
from organizer.moves.fsops import Dir
from organizer.moves.journal import Journal, JournalError, header, new_run_id
from organizer.errors import ManifestError, MoveInterrupted
from organizer.layout import STATE_DIR, Layout
from organizer.moves.plan import Plan

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
    returned: list[tuple[int, int]] = field(default_factory=list)   # undo: (dev, ino) each file had in its cluster
    dest: str = ""                                                    # undo: where the cluster folders are
    of_run: str = ""                                                  # undo: the apply run it reverses


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

    def identities(self) -> dict:
        """The journal's `ends` record: which folders these are, so recovery and undo can tell them again."""
        return {"type": "ends", "root": fsops.dir_identity(self.root), "dest": fsops.dir_identity(self.dest)}


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
             tmp: str, hidden: str, cross: bool) -> os.stat_result:
    """Move sd/sname (whose stat is st) to dd/dname; returns the destination's stat. Raises OSError (nothing
    changed, or the change undone) or Stuck (published, source not removable, copy removed again). `tmp` and
    `hidden` are this move's private names (journaled in its intent): the temporary copy, and the source's name
    while it is removed."""
    src_fd = None
    if not cross:
        try:
            renamed = fsops.publish(sd, sname, dd, dname)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            cross = True                  # one filesystem seen through two mounts (a bind mount): copy
    if not cross:                         # same filesystem: a second name for the same inode
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
        src_fd, published = _copy_across(journal, op, sd, sname, dd, dname, st, tmp)
    try:
        return _remove_source(sd, sname, dd, dname, st, src_fd, published, hidden)
    finally:
        if src_fd is not None:
            os.close(src_fd)


def _remove_source(sd: Dir, sname: str, dd: Dir, dname: str, st: os.stat_result, src_fd: int | None,
                   published: int, hidden: str) -> os.stat_result:
    """The copy (or link) is published: make it durable, check that the source is still exactly what was copied,
    then remove the source through its private name. Any doubt removes the copy again instead."""
    try:
        fsops.fsync_dir(dd)
        fsops.fault("after_publish")
        if src_fd is not None and fsops.identity(os.fstat(src_fd)) != fsops.identity(st):
            raise fsops.SourceChanged(errno.ESTALE, "the file was written to while it was being copied; the copy "
                                      "was removed and the original kept (it is planned again next run)")
    except OSError:
        fsops.remove(dd, dname, published)         # not known to be on disk, or no longer a copy of the source
        raise
    try:
        fsops.unlink_source(sd, sname, hidden, (st.st_ino, st.st_size, st.st_mtime_ns))
    except fsops.SourceReplaced as exc:             # our file left its name for another one: the copy stays
        log.warning("%s: %s; the moved copy is complete", dname, exc.strerror)
    except fsops.SourceChanged:
        fsops.remove(dd, dname, published)
        fsops.fsync_dir(dd)
        raise
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
                 tmp: str) -> tuple[int, int]:
    """Copy to the temporary name, publish it under dname without replacing anything, and check the published
    file byte for byte (SHA-256 of what was read against a fresh read of the copy). Returns the source's open
    descriptor (the caller checks it again before removing the source) and the copy's inode."""
    src_fd, src_st = fsops.open_regular(sd, sname)
    try:
        if fsops.identity(src_st) != fsops.identity(st):
            raise OSError(errno.ESTALE, "the source changed while it was being moved")
        name, tmp_fd = fsops.create_temp(dd, tmp)
        tmp_ino = os.fstat(tmp_fd).st_ino
        try:
            journal.write({"type": "tmp", "op": op, "name": name, "ino": tmp_ino})
            digest = fsops.copy_durable(src_fd, src_st, tmp_fd)
            fsops.publish(dd, name, dd, dname)
        finally:
            os.close(tmp_fd)
            _drop_temporary(dd, name, tmp_ino, dname)
        dst_fd, _ = fsops.open_regular(dd, dname)
        try:
            if sha256_fd(dst_fd) != digest:
                fsops.remove(dd, dname, tmp_ino)
                raise OSError(errno.EIO, "the copy differs from the original after writing; the original was kept")
        finally:
            os.close(dst_fd)
        return src_fd, tmp_ino
    except BaseException:
        os.close(src_fd)
        raise


def _drop_temporary(dd: Dir, name: str, ino: int, dname: str) -> None:
    """Remove the temporary name (tried twice). If it cannot be removed, the move is left open in the journal
    and the run stops: recovery, which knows the temporary's inode, finishes or rolls it back next time."""
    for attempt in (1, 2):
        try:
            fsops.remove(dd, name, ino)
            return
        except OSError as exc:
            if attempt == 2:
                raise MoveInterrupted(f"An I/O error ({exc.strerror}) stopped the run while it cleaned up after "
                                      f"copying {dname}; nothing more was moved. That move stays open in the "
                                      "journal and the next run finishes it (check the disk first).") from None


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
                cross = os.fstat(sd.fd).st_dev != os.fstat(dd.fd).st_dev
                tmp = fsops.temp_name()
                journal.write({"type": "intent", "op": op, "from": list(src), "to": list(dst), "tmp": tmp,
                               "hide": tmp + "-src", "cross": cross, "size": st.st_size,
                               "mtime_ns": st.st_mtime_ns, "dev": st.st_dev, "ino": st.st_ino, "cluster": cluster,
                               **extra})
                return _finish(journal, op, sd, sname, dd, dname, st, (tmp, tmp + "-src", cross), report, label)
    except OSError as exc:
        report.failed.append((label, _reason(exc, dst[1])))
        return False


def _finish(journal, op, sd, sname, dd, dname, st, private, report, label) -> bool:
    try:
        new = transfer(journal, op, sd, sname, dd, dname, st, *private)
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
    for folder, what in ((plan.root, "root"), (plan.dest, "dest")):
        refuse_state_folder(folder, what, layout)
    report = ApplyReport(run_id=new_run_id())
    with Journal(layout.journal_dir / f"{report.run_id}.jsonl") as journal:
        journal.write(header(report.run_id, "apply", plan.root, plan.dest, plan=plan.id, digest=plan.digest(),
                             planned=len(plan.moves)))
        ends = open_ends(plan.root, plan.dest, journal)
        try:
            for d, what in ((ends.root, "root"), (ends.dest, "dest")):
                refuse_state_folder(d, what, layout)
            journal.write(ends.identities())
            moved = [move.src for op, move in enumerate(plan.moves)
                     if move_one(journal, ends, op, ("root", move.src), ("dest", move.dst),
                                 (move.size, move.mtime_ns, move.ino), move.cluster, report, move.src)]
            report.removed_dirs = remove_emptied(journal, ends.root, moved)
        except JournalError as exc:
            raise JournalError(f"{exc} {report.moved} file(s) of this plan were moved before that.") from None
        finally:
            ends.close()
        journal.write({"type": "end", "moved": report.moved, "skipped": len(report.skipped),
                       "failed": len(report.failed)})
    return report


def remove_emptied(journal: Journal, root: Dir, moved: list[str]) -> int:
    """Remove the folders under root that this run emptied: it moved a file out of them and nothing is left. A
    folder that was empty before is never touched (no file of this run was in it), nor root itself. Deepest first,
    each journaled (`rmdir`) before it goes, so undo knows (moving the files back recreates them)."""
    folders = {parts[:i] for rel in moved for parts in [PurePosixPath(rel).parts[:-1]]
               for i in range(1, len(parts) + 1)}
    removed = 0
    for parts in sorted(folders, key=len, reverse=True):
        try:
            with fsops.walk(root, list(parts[:-1])) as parent, fsops.sub_dir(parent, parts[-1]) as folder:
                if os.listdir(folder.fd):
                    continue
                journal.write({"type": "rmdir", "base": "root", "rel": "/".join(parts)})
                os.rmdir(parts[-1], dir_fd=parent.fd)
                fsops.fsync_dir(parent)
                removed += 1
        except OSError:                   # gone, no longer empty, or a link now: left as it is
            continue
    return removed


def refuse_state_folder(folder: str | Dir, what: str, layout: Layout) -> None:
    """A plan's root or dest may not be, or lie inside, any library's .organizer folder, whatever path or link
    leads there: checked on the opened folder (its real path and its identity), not on the string. A dest that
    does not exist yet is checked through the nearest folder above it that does."""
    if isinstance(folder, Dir):
        real, ident = fsops.real_path(folder), fsops.dir_identity(folder)
    else:
        path = os.path.abspath(folder)
        while not os.path.isdir(path) and os.path.dirname(path) != path:
            path = os.path.dirname(path)
        try:
            with fsops.open_dir(path) as d:
                real, ident = fsops.real_path(d), fsops.dir_identity(d)
        except OSError:
            return                                  # open_ends says why it cannot be opened
    try:
        state = os.stat(layout.state_dir)
        ours = [state.st_dev, state.st_ino] == ident
    except OSError:
        ours = False
    if ours or STATE_DIR in PurePosixPath(real).parts:
        raise ManifestError(f"The plan's {what} {folder if isinstance(folder, str) else folder.path} is, or lies "
                            f"inside, organize's own {STATE_DIR} folder ({real}), where a plan may never move files; "
                            "nothing was moved. Fix the manifest, or re-run the dry run.")
