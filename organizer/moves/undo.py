"""Undo a plan application, and list the runs.

An application is every apply run of one plan (an interrupted apply, its recovery, and the apply that resumed
it): undo reverses all of their moves, newest first, exactly once, and then removes the folders they created that
are empty again. An undo that finished is never carried on onto an older application: undoing again says so.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from organizer.moves import fsops
from organizer.errors import ManifestError
from organizer.moves.journal import Journal, Run, done_ops, header, new_run_id, read_runs
from organizer.layout import Layout
from organizer.moves.mover import ApplyReport, Ends, check_source, move_one, split
from organizer.moves.recovery import OutOfReach, locate_ends


@dataclass(frozen=True)
class RunInfo:
    id: str
    kind: str
    created: str
    moved: int
    undone: int
    status: str
    undo_of: str | None = None
    plan: str = ""
    digest: str = ""


def _undone(runs: list[Run]) -> set[tuple[str, int]]:
    """(apply run, op) of every move an undo reversed."""
    out = set()
    for run in runs:
        if run.kind != "undo":
            continue
        for intent, _ in done_ops(run.records).values():
            of = intent.get("of")
            if isinstance(of, list) and len(of) == 2:
                out.add((str(of[0]), int(of[1])))
    return out


def list_runs(layout: Layout) -> list[RunInfo]:
    runs = read_runs(layout)
    undone = _undone(runs)
    infos = []
    for run in runs:
        done = done_ops(run.records)
        back = sum((run.id, op) in undone for op in done) if run.kind == "apply" else 0
        status = "interrupted" if not run.ended else ("recovered" if run.recovered else "complete")
        if run.kind == "apply" and done and back == len(done):
            status = "undone"
        elif back:
            status = "partly undone"
        infos.append(RunInfo(run.id, run.kind, run.created, len(done), back, status,
                             ", ".join(run.undo_of) or None, run.plan, run.digest))
    return infos


def _application(runs: list[Run], run_id: str | None) -> tuple[Run, list[Run]]:
    """The apply run asked for (default: the newest that moved something) and its whole application."""
    applies = [r for r in runs if r.kind == "apply"]
    if run_id is not None:
        matches = [r for r in applies if r.id == run_id]
        if not matches:
            raise ManifestError(f"No applied run {run_id!r} here; `organize runs PATH` lists them.")
        target = matches[0]
    else:
        moved = [r for r in applies if done_ops(r.records)]
        if not moved:
            raise ManifestError("There is no applied run to undo here; `organize runs PATH` lists the runs.")
        target = moved[-1]
    # Every apply of this plan: the moves an earlier undo already reversed are left out by the caller, and runs
    # that moved nothing still count (the folders they created go too).
    return target, [r for r in applies if (r.plan, r.digest) == (target.plan, target.digest)]


def undo(layout: Layout, run_id: str | None = None, dry_run: bool = False) -> ApplyReport:
    """Move back every file of a plan application (the newest, or the one holding run_id), newest first. The
    caller holds the lock and has recovered interrupted runs."""
    runs = read_runs(layout)
    undone = _undone(runs)
    target, members = _application(runs, run_id)
    todo = [(run, op, intent, done) for run in reversed(members)
            for op, (intent, done) in sorted(done_ops(run.records).items(), reverse=True)
            if (run.id, op) not in undone]
    report = ApplyReport(run_id=target.id, of_run=target.id)
    head = target.records[0] if target.records else {}
    if not todo:
        if not dry_run:
            _remove_created_folders(members, head, report)
        report.note = (f"Run {target.id} was already undone; nothing was moved. To undo an earlier run, pass --run "
                       "ID (`organize runs PATH` lists them).")
        return report
    ends = _folders(layout, target)            # before any journal: an undo that cannot start leaves no trace
    head = {**head, "root": ends.root.path, "dest": ends.dest.path}
    report.dest = ends.dest.path
    if dry_run:
        return _preview(todo, head, report, ends)
    report.run_id = new_run_id()
    with contextlib.closing(ends), Journal(layout.journal_dir / f"{report.run_id}.jsonl") as journal:
        journal.write(header(report.run_id, "undo", head["root"], head["dest"], plan=target.plan,
                             digest=target.digest, undo_of=[r.id for r in members]))
        journal.write(ends.identities())
        for n, (run, op, intent, done) in enumerate(todo):
            expect = (done.get("dst_size", intent["size"]), done.get("dst_mtime_ns", intent["mtime_ns"]),
                      done.get("dst_ino", 0))
            if move_one(journal, ends, n, tuple(intent["to"]), tuple(intent["from"]), expect,
                        intent.get("cluster", ""), report, _shown(intent["to"], head), of=[run.id, op],
                        changed="changed since organize moved it; left where it is"):
                report.returned.append((fsops.dir_identity(ends.of(intent["to"][0]))[0], expect[2]))
        _remove_created_folders(members, head, report)
        journal.write({"type": "end", "moved": report.moved, "skipped": len(report.skipped),
                       "failed": len(report.failed)})
    return report


def _folders(layout: Layout, target: Run) -> Ends:
    """The application's root and dest, checked to be the folders it moved files in (found again where the
    library was renamed); a sentence, and nothing written, where one is out of reach."""
    try:
        return locate_ends(layout, target.records[0] if target.records else {}, target.records)
    except OutOfReach as gone:
        raise ManifestError(f"Undo needs the folder {gone.path}, which {gone.why}. Nothing was moved and "
                            f"{layout.root} was not changed. Reconnect that folder (mount the disk, or move the "
                            "library back) and run undo again.") from None


def _shown(place: list, head: dict) -> str:
    return os.path.join(head["root"] if place[0] == "root" else head["dest"], place[1])


def _preview(todo: list, head: dict, report: ApplyReport, ends: Ends) -> ApplyReport:
    """What undo would do, checked against the files as they are now; changes nothing."""
    try:
        for _, _, intent, done in todo:
            label = _shown(intent["to"], head)
            try:
                parts, name = split(intent["to"][1])
                with fsops.walk(ends.of(intent["to"][0]), parts) as d:
                    st, why = check_source(d, name, done.get("dst_size", intent["size"]),
                                           done.get("dst_mtime_ns", intent["mtime_ns"]), done.get("dst_ino", 0))
            except OSError:
                st, why = None, "is no longer where organize put it; nothing to move back"
            if st is None:
                report.skipped.append((label, why))
            else:
                report.moved += 1
    finally:
        ends.close()
    return report


def _remove_created_folders(members: list[Run], head: dict, report: ApplyReport) -> None:
    """Remove the folders these runs created, deepest first, where they are empty again (rmdir only ever removes
    an empty folder). Folders inside root or dest are reached through descriptors, never through a link."""
    made = [r for run in members for r in run.records if r["type"] == "mkdir"]
    inside = sorted((r for r in made if not r.get("abs")), key=lambda r: -len(split(r["rel"])[0]))
    for record in inside:
        parts, name = split(record["rel"])
        try:
            with fsops.open_dir(head[record["base"]]) as base, fsops.walk(base, parts) as parent:
                os.rmdir(name, dir_fd=parent.fd)
                report.removed_dirs += 1
        except OSError:
            pass
    for record in reversed([r for r in made if r.get("abs")]):       # dest and the parents made for it
        try:
            os.rmdir(record["abs"])
            report.removed_dirs += 1
        except OSError:
            pass
