"""Finish or roll back the moves a crash interrupted, and find a run's folders again.

Recovery closes an interrupted move only with evidence of where its bytes are: it must see both of the move's
folders, and know they are the folders the run worked in (the journal's `ends` record holds their identities).
A folder that cannot be reached (a disk not mounted, an empty mount point in its place, a library renamed with its
dest elsewhere) leaves the journal open and raises RecoveryBlocked: every command that moves files refuses with a
sentence naming the folder, until it is back. A library that was renamed is found again by its identity.
"""

from __future__ import annotations

import errno
import os
import stat

from organizer.moves import fsops
from organizer.errors import RecoveryBlocked
from organizer.moves.fsops import Dir
from organizer.moves.journal import Journal, journal_paths, open_ops, read_journal
from organizer.layout import Layout
from organizer.moves.mover import Ends, split


def recover(layout: Layout) -> int:
    """Close every unfinished journal; returns how many operations were finished or rolled back. Raises
    RecoveryBlocked (the journal stays open) where an operation's folders cannot be reached or checked."""
    count = 0
    for path in journal_paths(layout):
        records = read_journal(path)
        if not records or records[-1]["type"] == "end":
            continue
        head = records[0] if records[0]["type"] == "run" else {}
        tmps = {r["op"]: r for r in records if r["type"] == "tmp"}
        pending = open_ops(records)
        try:
            ends = locate_ends(layout, head, records) if pending else None
        except OutOfReach as gone:
            raise RecoveryBlocked(blocked_sentence(gone.path, gone.why, layout, path)) from None
        try:
            with Journal(path) as journal:
                for intent in pending:
                    kind, extra = resolve_open(intent, tmps.get(intent["op"]), ends, path)
                    journal.write({"type": kind, "op": intent["op"], **extra})
                    count += 1
                journal.write({"type": "end", "recovered": True})
        finally:
            if ends is not None:
                ends.close()
    return count


class OutOfReach(Exception):
    """A run's folder cannot be opened, or something else stands at its path; the caller says what that means."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path} {why}")
        self.path, self.why = path, why


def locate_ends(layout: Layout, head: dict, records: list[dict]) -> Ends:
    """A run's root and dest, opened and checked to be the very folders it worked in: the same inode at the
    recorded path (a device may be numbered anew after a reboot), or, for a library that was renamed, the same
    (device, inode) where the library is now. Raises OutOfReach naming the folder otherwise."""
    ids = next((r for r in records if r["type"] == "ends"), {})
    old_root = str(head.get("root", ""))
    root = _locate(old_root, ids.get("root"), [os.fspath(layout.root)])
    old_dest = str(head.get("dest", ""))
    moved_with = []
    if old_root and (old_dest == old_root or old_dest.startswith(old_root.rstrip(os.sep) + os.sep)):
        moved_with.append(os.path.join(root.path, os.path.relpath(old_dest, old_root)))
    try:
        dest = _locate(old_dest, ids.get("dest"), moved_with)
    except BaseException:
        root.close()
        raise
    return Ends(root, dest)


def _locate(path: str, ident, alternates: list[str]) -> Dir:
    why = "cannot be found"
    for n, candidate in enumerate([path] + [a for a in alternates if a != path]):
        if not candidate:
            continue
        try:
            d = fsops.open_dir(candidate)
        except OSError as exc:
            why = f"cannot be opened ({exc.strerror})" if n == 0 else why
            continue
        got = fsops.dir_identity(d)
        if not ident or got == list(ident) or (n == 0 and got[1] == ident[1]):
            return d
        d.close()
        if n == 0:
            why = "is not the folder the run worked in (an empty mount point, or another disk, in its place)"
    raise OutOfReach(path, why)


def blocked_sentence(path: str, why: str, layout: Layout, journal) -> str:
    return (f"An interrupted move is waiting for the folder {path}, which {why}. organize closes a move only once it "
            f"can see where the file is, so nothing was moved and {layout.root} stays locked for moves. Reconnect "
            "that folder (mount the disk, or move the library back) and run again"
            + (f"; the journal is {journal}." if journal else "."))


def resolve_open(intent: dict, tmp: dict | None, ends: Ends, journal=None) -> tuple[str, dict]:
    """Finish or roll back one interrupted operation; returns (closing type, extra fields). Only what this
    operation created (known by inode) is ever removed. Raises RecoveryBlocked when a step fails (an fsync, an
    unlink): the operation stays open for the next run."""
    sparts, sname = split(intent["from"][1])
    dparts, dname = split(intent["to"][1])
    sd = dd = None
    try:
        sd = _walk(ends.of(intent["from"][0]), sparts)
        dd = _walk(ends.of(intent["to"][0]), dparts)
        return _resolve_in(intent, tmp, sd, sname, dd, dname)
    except OSError as exc:
        raise RecoveryBlocked(f"Finishing an interrupted move of {intent['from'][1]} failed ({exc.strerror}); "
                              "nothing more was moved, and the move stays open for the next run. Check the disk "
                              "and run again" + (f" (journal: {journal})." if journal else ".")) from None
    finally:
        for d in (sd, dd):
            if d is not None:
                d.close()


def _walk(base: Dir, parts: list[str]) -> Dir | None:
    """A folder inside a checked run folder, or None where it is gone (or became a link, never followed)."""
    try:
        return fsops.walk(base, parts)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _resolve_in(intent: dict, tmp: dict | None, sd: Dir | None, sname: str, dd: Dir | None,
                dname: str) -> tuple[str, dict]:
    ino = intent["ino"]
    hidden = intent.get("hide", "")
    src = fsops.stat_at(sd, sname) if sd else None
    hid = fsops.stat_at(sd, hidden) if sd and hidden else None
    dst = fsops.stat_at(dd, dname) if dd else None
    ours = {ino} | ({tmp["ino"]} if tmp else set())
    published = dst is not None and dst.st_ino in ours
    if dd is not None:
        if tmp:
            fsops.remove(dd, tmp["name"], tmp["ino"])
        elif intent.get("tmp"):
            _remove_empty(dd, intent["tmp"])
    if hid is not None and hid.st_ino != ino:          # another file was hidden in its place: put it back
        fsops.unhide(sd, hidden, sname)
        src, hid = fsops.stat_at(sd, sname), None
    at = hidden if hid is not None else sname if src is not None and src.st_ino == ino else None
    if at is not None and published:
        return _finish_published(intent, sd, at, dd, dname, dst)
    if at is not None:                                  # nothing was published: the source is as it was
        if at == hidden:
            fsops.unhide(sd, hidden, sname)
            fsops.fsync_dir(sd)
        return "rolled_back", {}
    if published:
        return _done(dd, dname)
    return "failed", {"reason": "the file is in neither place any more (moved or deleted by hand?); nothing was "
                                "changed"}


def _finish_published(intent: dict, sd: Dir, at: str, dd: Dir, dname: str, dst) -> tuple[str, dict]:
    """Both the source (at its name or hidden) and a published copy exist: check the copy, remove the source."""
    sname = split(intent["from"][1])[1]
    if dst.st_ino != intent["ino"] and not _same(sd, at, dd, dname):
        fsops.remove(dd, dname, dst.st_ino)
        if at != sname:
            fsops.unhide(sd, at, sname)
        return "rolled_back", {"reason": "the copy differed from the source; the copy was removed"}
    try:
        if at == intent.get("hide"):
            fsops.remove(sd, at, intent["ino"])
        else:
            fsops.unlink_source(sd, at, intent.get("hide") or fsops.temp_name(),
                                (intent["ino"], intent["size"], intent["mtime_ns"]))
    except fsops.SourceReplaced:                 # another file took the name: ours is the published copy
        return _done(dd, dname)
    except fsops.SourceChanged as exc:           # edited since the copy: the copy goes, the edit stays
        fsops.remove(dd, dname, dst.st_ino)
        return "failed", {"reason": exc.strerror}
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EBUSY):
            raise
        fsops.remove(dd, dname, dst.st_ino)
        return "rolled_back", {"reason": f"the source could not be removed ({exc.strerror}); the copy was removed "
                                         "again"}
    fsops.fsync_dir(sd)
    return _done(dd, dname)


def _done(dd: Dir, dname: str) -> tuple[str, dict]:
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
