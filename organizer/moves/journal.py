"""The move journal: PATH/.organizer/journal/<run id>.jsonl, one JSON record a line, fsync after each.

A run header; per operation an `intent` (from, to, size, mtime_ns, dev, ino, cluster) before anything happens,
a `tmp` record (name and inode) once a temporary copy exists, then exactly one closing record (`done`, `failed`,
`skipped`, `rolled_back`); a `mkdir` record before each folder is created; an `end` record. Paths are relative to
the run's root or dest ("from": ["root", "a/b.mp4"]). A crash leaves at most one torn last line: readers ignore
it, and a writer that appends (recovery) first cuts it off. Lines that are not records are ignored with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from organizer.moves import fsops
from organizer.clock import now_iso, stamp
from organizer.errors import LibraryNotWritable
from organizer.layout import Layout

log = logging.getLogger(__name__)

CLOSING = ("done", "failed", "skipped", "rolled_back")
KINDS = ("run", "ends", "intent", "tmp", "mkdir", "rmdir", "end") + CLOSING


def new_run_id() -> str:
    return stamp(micro=True) + "-" + secrets.token_hex(2)


class JournalError(LibraryNotWritable):
    """The journal could not be written: nothing more is moved."""


class Journal:
    """An append-only journal file; every record is on disk before the call returns."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            self._cut_torn_tail()
        except OSError as exc:
            raise JournalError(_cannot_write(self.path, exc)) from None

    def _cut_torn_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        if not size or os.pread(self._fd, 1, size - 1) == b"\n":
            return
        data = os.pread(self._fd, size, 0)
        os.ftruncate(self._fd, data.rfind(b"\n") + 1)     # a partial last line: a crash mid-write
        os.fsync(self._fd)

    def write(self, record: dict) -> None:
        """Append one record and fsync it. A record counts only when all of it is on disk: a short or failed
        write is cut off again (never a torn line for the next record to follow) and raises JournalError, so the
        operation it announces does not start."""
        data = (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")
        size = None
        try:
            size = os.fstat(self._fd).st_size
            fsops.fault("journal")
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)       # a full disk can take part of a record
                if written <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            if size is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                    os.fsync(self._fd)
            raise JournalError(_cannot_write(self.path, exc)) from None

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cannot_write(path: Path, exc: OSError) -> str:
    what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return (f"The journal {path} could not be written ({what}), so nothing more was moved: the move it was to "
            "record did not start (or, if it was already made, the next run finds it and records it). Free some "
            "space (or fix the permissions) and run again, or undo with `organize undo`.")


def _valid(record) -> bool:
    if not isinstance(record, dict) or record.get("type") not in KINDS:
        return False
    if record["type"] in CLOSING + ("intent", "tmp") and not isinstance(record.get("op"), int):
        return False
    if record["type"] == "intent":
        return all(_place(record.get(k)) for k in ("from", "to")) and isinstance(record.get("ino"), int)
    if record["type"] in ("mkdir", "rmdir"):
        return _place([record.get("base"), record.get("rel")])
    return True


def _place(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and value[0] in ("root", "dest")
            and isinstance(value[1], str) and value[1] != "")


def read_journal(path: Path) -> list[dict]:
    """The records of a journal; a torn last line and lines that are not records are left out."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        log.warning("cannot read the journal %s (%s); it is ignored", path, exc.strerror)
        return []
    records = []
    for n, line in enumerate(data.split(b"\n")):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if record is None or not _valid(record):
            log.warning("ignoring line %d of the journal %s: it is not a journal record", n + 1, path)
            continue
        records.append(record)
    return records


def journal_paths(layout: Layout) -> list[Path]:
    folder = layout.journal_dir
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.glob("*.jsonl") if p.is_file() and not p.is_symlink())


def open_ops(records: list[dict]) -> list[dict]:
    """Intents without a closing record: operations a crash interrupted."""
    closed = {r["op"] for r in records if r["type"] in CLOSING}
    return [r for r in records if r["type"] == "intent" and r["op"] not in closed]


def done_ops(records: list[dict]) -> dict[int, tuple[dict, dict]]:
    intents = {r["op"]: r for r in records if r["type"] == "intent"}
    return {r["op"]: (intents[r["op"]], r) for r in records if r["type"] == "done" and r["op"] in intents}


@dataclass
class Run:
    """One journal: an apply or an undo."""

    id: str
    kind: str
    created: str
    plan: str
    path: Path
    records: list[dict] = field(repr=False)
    undo_of: list[str] = field(default_factory=list)
    digest: str = ""          # what the plan moved (two edited manifests may share an id)

    @property
    def ended(self) -> bool:
        return bool(self.records) and self.records[-1]["type"] == "end"

    @property
    def recovered(self) -> bool:
        return self.ended and bool(self.records[-1].get("recovered"))


def read_runs(layout: Layout) -> list[Run]:
    """Every run in the journal folder, oldest first."""
    runs = []
    for path in journal_paths(layout):
        records = read_journal(path)
        head = records[0] if records and records[0]["type"] == "run" else {}
        undo_of = head.get("undo_of", [])
        runs.append(Run(str(head.get("id", path.stem)), str(head.get("kind", "?")), str(head.get("created", "")),
                        str(head.get("plan") or head.get("id", path.stem)), path, records,
                        [undo_of] if isinstance(undo_of, str) else list(undo_of), str(head.get("digest", ""))))
    return runs


def header(run_id: str, kind: str, root: str, dest: str, **extra) -> dict:
    return {"type": "run", "id": run_id, "kind": kind, "root": root, "dest": dest, "created": now_iso(), **extra}
