"""One service per library: it owns PATH/.organizer (lock, journal, plans, state) and every command goes
through it. Open it as a context manager, call one method, read the typed report it returns."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from organizer.moves import mover, recovery
from organizer.config import Settings
from organizer.errors import LibraryNotWritable, LockBusy, OrganizerError, StateBusy
from organizer.store.inventory import identify
from organizer.clock import now_iso, stamp
from organizer.layout import Layout, library_root, not_writable
from organizer.outputs.files import is_ours, write_output
from organizer.pipeline import Planned, ResolvedRun, folders_in, organize
from organizer.grouping.placement import Member, refreshed, top_folder
from organizer.moves.plan import Plan
from organizer.types import Progress
from organizer.scan import scan
from organizer.store.state import LibraryState, RunRecord
from organizer.summary import ClusterLine, MoveReport, NewVideo, RunReport, VideoLine
from organizer.types import ClusterSet, Failure
from organizer.moves.undo import RunInfo, list_runs
from organizer.moves.undo import undo as undo_application
from organizer.engine.spawn import peak_rss_mib

log = logging.getLogger(__name__)


class NeverOrganized(OrganizerError):
    """A command that reads or undoes runs was given a folder organize has never worked on."""


@dataclass(frozen=True)
class RunOptions:
    """What `organize PATH` was asked to do besides the settings."""

    dest: Path | None = None
    dry_run: bool = False
    manifest: Path | None = None
    report: Path | None = None
    keyframes_dir: Path | None = None
    recluster: bool = False
    retry_failed: bool = False
    debug: bool = False
    forget_decisions: bool = False     # plan without what was decided in `organize review` (and forget it)


@contextlib.contextmanager
def library_lock(layout: Layout) -> Iterator[None]:
    """Hold PATH/.organizer/lock with flock; the kernel releases it when the process dies."""
    try:
        layout.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LibraryNotWritable(not_writable(layout.state_dir, exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockBusy(f"Another organize run is working on {layout.root}; this run changed nothing. "
                       "Try again when it has finished.") from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def _after_moves(what: str) -> Iterator[None]:
    """State writes after files moved: a busy database then costs only the record (the journal holds the moves,
    the next run refreshes the state), never a claim that nothing happened."""
    try:
        yield
    except StateBusy as exc:
        log.warning("The moves were made, but %s could not be saved: %s The next run brings the state up to date.",
                    what, str(exc).split(" Nothing was changed")[0])


class Library:
    """An opened library: its layout, its lock (held while open) and its state database."""

    def __init__(self, layout: Layout, state: LibraryState, cached: bool = True):
        self.layout = layout
        self.state = state
        self.cached = cached           # False: planning without a lock or a cache (a read-only library)

    @classmethod
    @contextlib.contextmanager
    def open(cls, root, rebuild_state: bool = False, read_only_ok: bool = False, lock: bool = True,
             with_state: bool = True, existing: bool = False) -> Iterator["Library"]:
        """Open the library at `root`: take its lock and open its state database, for one command.

        Args:
            root: the folder that holds the videos (a path or str). Its `.organizer` folder is created if missing.
            rebuild_state: start the state database afresh (a damaged one is moved aside).
            read_only_ok: if the library cannot be written, open it without a lock and with a throw-away cache
                (to plan a read-only mount) instead of raising.
            lock: take the library's lock (listing runs needs none).
            with_state: open the state database (undo and the runs listing need none).
            existing: refuse a folder that was never organized instead of giving it a `.organizer` folder.

        Returns: a context manager that yields the `Library`; the lock is released when it exits.

        Raises: OrganizerError with a sentence (the CLI's exit codes come from its subclass): the folder does not
        exist or is not one (OrganizerError), LockBusy (another run holds it), LibraryNotWritable, StateBusy (the
        database stayed locked), NeverOrganized (with existing)."""
        layout = Layout.of(library_root(root))
        if existing and not layout.exists():
            raise NeverOrganized(f"{layout.root} has never been organized (there is no {layout.state_dir}); there "
                                 "are no runs to list or undo.")
        with contextlib.ExitStack() as stack:
            try:
                if lock:
                    stack.enter_context(library_lock(layout))
                state = stack.enter_context(LibraryState.open(layout.state_dir, rebuild=rebuild_state)
                                            if with_state else LibraryState.memory())
                if with_state and lock:
                    state.check_writable()
                cached = with_state
            except LibraryNotWritable as exc:
                if not read_only_ok:
                    raise
                log.warning("%s Planning without a lock or a cache.", str(exc).split(";")[0])
                state, cached = stack.enter_context(LibraryState.memory()), False
            yield cls(layout, state, cached)

    # ------------------------------------------------------------------------------------------ organize
    def run(self, settings: Settings, options: RunOptions, progress: Progress | None = None) -> RunReport:
        """Organize the library: finish any interrupted run, analyse (through the cache), plan, write the manifest
        (and the report and keyframes when asked), and apply the plan unless this is a dry run.

        Args:
            settings: the settings (`resolve()` builds them from flags and a config file); resolved once here.
            options: what else was asked (`RunOptions`: dest, dry_run, manifest, report, keyframes_dir, recluster,
                retry_failed, debug).
            progress: receives the phases and per-video progress; None reports nothing.

        Returns: a `RunReport`: the clusters, every move planned and made, what was skipped or is still downloading
        and why, and the manifest's path.

        Raises: OrganizerError subclasses with a sentence: ModelUnavailable (the model cannot be loaded),
        NothingProcessed (no video could be analysed), RecoveryBlocked (an interrupted run's folders are out of
        reach), StateBusy, LibraryNotWritable. A video that cannot be analysed is never raised: it is reported."""
        started = now_iso()
        recovered = 0 if options.dry_run else recovery.recover(self.layout)
        run = ResolvedRun.of(settings)
        executor = run.executor(options.debug)
        planned = organize(self.layout.root, run, options.dest, progress=progress, state=self.state,
                           recluster=options.recluster, executor=executor, retry_failed=options.retry_failed,
                           thumbnails=bool(options.dry_run or options.report or options.keyframes_dir),
                           decisions=not options.forget_decisions)
        advice = self._once(planned.placement.advice, fresh_start=planned.plan.mode != "assign")   # before any move
        planned.plan.warnings = list(planned.notes + planned.placement.warnings + advice)
        manifest = self.write_manifest(planned.plan, options.manifest, settings.output_keep_plans)
        report_path = options.report or (manifest.with_suffix(".html") if options.dry_run else None)
        if report_path:
            from organizer.outputs.report import write_html_report
            write_html_report(report_path, planned, options.dry_run, str(manifest))
        if options.keyframes_dir:
            from organizer.outputs.export import export_analysed
            export_analysed([(os.fspath(r.video.path), r.analysis) for r in planned.results],
                            options.keyframes_dir, executor)
        applied = None
        if not options.dry_run:
            # A plan with nothing to move leaves no journal (no empty runs in `organize runs`).
            if planned.plan.moves and progress is not None:
                progress.phase(f"moving {len(planned.plan.moves)} file{'s' if len(planned.plan.moves) != 1 else ''}")
            applied = mover.apply_plan(planned.plan, self.layout) if planned.plan.moves else mover.ApplyReport()
            with _after_moves("the cluster records"):
                self._remember_stuck(planned.plan, applied)
                if options.forget_decisions:
                    self.state.forget_decisions()
                if planned.changed or applied.moved or recovered:
                    self.refresh(planned.plan, run)
        report = _run_report(planned, manifest, report_path, options.dry_run, applied, recovered,
                             peak_rss_mib() + sum(executor.peak_rss), executor.model_stats, advice)
        with _after_moves("the run's record"):
            self.state.record_run(RunRecord(started, "dry-run" if options.dry_run else planned.plan.mode,
                                            report.videos, len(report.new), report.moved,
                                            len(report.skipped), len(report.downloading), len(report.errors),
                                            planned.seconds, applied.run_id if applied else None))
        log.info("run %s: %d videos, %d clusters, %d moves planned, %d skipped, %d downloading", self.layout.root,
                 report.videos, len(report.clusters), report.planned, len(report.skipped), len(report.downloading))
        return report

    def _once(self, advice: tuple[str, ...], fresh_start: bool) -> tuple[str, ...]:
        """The advice not given before in this library (a suggestion is said once, not every night; its numbers
        may change from night to night, its kind does not). A clustering run starts the memory afresh."""
        said = set() if fresh_start else set(json.loads(self.state.get_meta("advice_said") or "[]"))
        kinds = {a: re.sub(r"[0-9.]+", "#", a) for a in advice}
        fresh = tuple(a for a in advice if kinds[a] not in said)
        said |= set(kinds.values())
        if self.cached and (fresh or fresh_start):
            self.state.set_meta("advice_said", json.dumps(sorted(said)))
        return fresh

    def write_manifest(self, plan: Plan, path: Path | None, keep: int = 50) -> Path:
        """The plan as JSON: a new file, or a manifest of ours replaced; never anything else. In the library's
        plans folder only the newest `keep` plans stay, with every plan that was applied."""
        target = Path(path) if path else self.layout.plans_dir / f"{stamp()}.json"
        written = write_output(target, plan.to_json().encode("ascii"), "manifest", "--manifest")
        if path is None and self.cached:
            self._prune_plans(keep)
        return written

    def unapplied(self, plans: list[Path]) -> Iterator[Path]:
        """Those of these manifests that no run applied, in the order given (read one at a time, as asked for);
        a file that is not a readable JSON object is not a plan of ours and is left out."""
        applied = {r.plan for r in list_runs(self.layout) if r.kind == "apply"}
        for path in plans:
            try:
                plan_id = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape")).get("id")
            except (OSError, ValueError, AttributeError):
                continue
            if plan_id not in applied:
                yield path

    def _prune_plans(self, keep: int) -> None:
        plans = sorted(self.layout.plans_dir.glob("*.json"))
        if len(plans) <= keep:
            return
        for old in self.unapplied(plans[:-keep]):
            for file in (old, old.with_suffix(".html")):
                if file.exists() and is_ours(file, "manifest" if file.suffix == ".json" else "report"):
                    file.unlink()

    # ------------------------------------------------------------------------------------ apply and undo
    def apply(self, plan: Plan) -> MoveReport:
        """Apply a saved plan exactly (after finishing any interrupted run), then record the clusters. A plan
        already applied (and not undone) is not applied again; an interrupted one is resumed.

        Args:
            plan: the plan, as `organizer.moves.manifest.parse_plan` reads it from a manifest.

        Returns: a `MoveReport` (run id, files moved, and each file skipped or failed with its reason).

        Raises: RecoveryBlocked when an interrupted run's folders are out of reach; a file that changed since
        planning is skipped with a reason, never raised."""
        recovered = recovery.recover(self.layout)
        digest = plan.digest()
        runs = [r for r in list_runs(self.layout) if r.kind == "apply" and r.plan == plan.id
                and r.digest in (digest, "")]
        if runs and runs[-1].status == "complete" and sum(r.moved - r.undone for r in runs) >= len(plan.moves):
            return MoveReport(runs[-1].id, 0, recovered, note=f"This plan was already applied in run "
                                                              f"{runs[-1].id}; nothing to do.")
        if not plan.moves:
            return MoveReport("", 0, recovered, note="This plan moves nothing; nothing to do.")
        applied = mover.apply_plan(plan, self.layout)
        try:
            self.remember(plan)
            self._remember_stuck(plan, applied)
            self.refresh(plan, ResolvedRun.recorded(plan.settings))
        except OrganizerError as exc:     # the files have moved: the next run repairs the state
            log.warning("The moves were applied but the library state was not updated: %s", exc)
        return _move_report(applied, recovered)

    def undo(self, run_id: str | None = None, dry_run: bool = False) -> MoveReport:
        """Reverse a whole plan application (after finishing any interrupted run).

        Args:
            run_id: the apply run to undo (`runs()` lists them); None: the newest that moved something.
            dry_run: say what would move back, move nothing.

        Returns: a `MoveReport` whose `run` is the apply run reversed and `journal` the undo's own run.

        Raises: OrganizerError when there is no such run or nothing left to undo; RecoveryBlocked."""
        recovered = 0 if dry_run else recovery.recover(self.layout)
        undone = undo_application(self.layout, run_id, dry_run=dry_run)
        if undone.returned:
            self._forget_undone(undone.returned, Path(undone.dest))
        return _move_report(undone, recovered, dry_run)

    def _forget_undone(self, returned: list[tuple[int, int]], dest: Path) -> None:
        """Files that undo brought back are no longer in a cluster, and a cluster whose folder undo removed and
        that holds nothing any more is forgotten: after an undo that restored everything, the next run plans from
        scratch instead of taking the user's own folders for renamed clusters. The files are safe whatever
        happens here; a state that cannot be opened is brought up to date by the next run."""
        try:
            with contextlib.ExitStack() as stack:
                state = self.state if self.cached else stack.enter_context(LibraryState.open(self.layout.state_dir))
                index = state.stat_index()
                back = {index[key][2] for key in returned if key in index}
                kept = {fp: folder for fp, folder in state.memberships().items() if fp not in back}
                state.set_memberships(kept)
                stored, held = state.clusters(), set(kept.values())
                rows = tuple(r for r in stored.rows if r.name in held or (dest / r.name).is_dir())
                state.save_clusters(replace(stored, rows=rows) if rows else ClusterSet())
        except OrganizerError as exc:
            log.warning("The files were moved back, but the library state could not be updated (%s); the next "
                        "run does that.", str(exc).split(". ")[0])

    def remember(self, plan: Plan) -> None:
        """Keep what a person decided in a reviewed plan (`plan.decisions`) for the runs to come."""
        if plan.decisions and self.cached:
            self.state.remember_decisions([(d.fingerprint, d.kind, d.cluster, d.src) for d in plan.decisions])

    def runs(self) -> list[RunInfo]:
        """Every run recorded in the library's journal, oldest first (id, kind, files moved and undone, status)."""
        return list_runs(self.layout)

    def _remember_stuck(self, plan: Plan, applied: mover.ApplyReport) -> None:
        """Moves whose source could not be removed are not planned again every night."""
        reasons = dict(applied.failed)
        by_src = {m.src: m.fingerprint for m in plan.moves}
        if applied.stuck and self.cached:
            self.state.remember_stuck({by_src[src]: reasons[src] for src in applied.stuck if by_src.get(src)})

    # ------------------------------------------------------------------------------------------- state
    def refresh(self, plan: Plan, run: ResolvedRun) -> None:
        """After files moved: forget vanished files, and derive each cluster's centroid from what its folder now
        holds (so hand moves pull the centroid along)."""
        root, dest = Path(plan.root), Path(plan.dest)
        videos = scan(root, 0.0).videos
        if not dest.is_relative_to(root) and dest.is_dir():
            videos += scan(dest, 0.0).videos
        ids, _ = identify(videos, self.state)
        self.state.forget_files({(i.video.dev, i.video.ino) for i in ids})
        lookup = self.state.lookup([i.fingerprint for i in ids], run.key)
        members = [Member(i.video.rel, i.fingerprint, lookup.analyses[i.fingerprint].group_vector,
                          top_folder(os.fspath(i.video.path), os.fspath(dest), os.sep))
                   for i in ids if i.fingerprint in lookup.analyses]
        clusters, memberships = refreshed(members, {c.name for c in plan.clusters}, self.state.clusters(),
                                          run.spec.space, folders_in(dest), plan.threshold)
        self.state.save_clusters(clusters)
        self.state.set_memberships(memberships)
        moved_since = {fp for fp, (kind, folder) in self.state.decisions().items()
                       if kind == "cluster" and memberships.get(fp, folder) != folder}
        if moved_since:              # moved by hand since it was decided: the newer decision counts
            self.state.forget_decisions(moved_since)


def _run_report(planned: Planned, manifest: Path, report_path: Path | None, dry_run: bool, applied,
                recovered: int, memory_mib: float, model_stats: dict, advice: tuple[str, ...] = ()) -> RunReport:
    plan, placement = planned.plan, planned.placement
    to_move: dict[str, int] = {}
    for m in plan.moves:
        to_move[m.cluster] = to_move.get(m.cluster, 0) + 1
    outside = [r for r in planned.results if r.video.rel in placement.outside]
    new = tuple(NewVideo(r.video.rel, placement.assigned[r.video.rel],
                         None if placement.distances.get(r.video.rel) is None
                         else round(placement.distances[r.video.rel], 4)) for r in outside)
    skipped = tuple(plan.skipped) + tuple(
        Failure(p, r) for p, r in (applied.skipped if applied else []))
    return RunReport(
        root=plan.root, dest=plan.dest, dry_run=dry_run, manifest=str(manifest),
        report=str(report_path) if report_path else None, mode=plan.mode, videos=len(planned.results),
        cached=planned.cached, new=new,
        clusters=tuple(ClusterLine(c.name, c.size, to_move.get(c.name, 0)) for c in plan.clusters),
        k_choice=placement.k_choice, drift=_drift(placement),
        planned=len(plan.moves),
        moved=applied.moved if applied else 0,
        in_place=plan.in_place, skipped=skipped, downloading=tuple(plan.downloading),
        errors=tuple(Failure(p, r) for p, r in (applied.failed if applied else [])), recovered=recovered,
        frames=planned.frames, frames_reused=planned.reused, backend=planned.backend,
        warnings=planned.notes + placement.warnings + advice, seconds=planned.seconds, memory_mib=round(memory_mib),
        timings={**planned.timings, **model_stats}, settle_seconds=plan.settings.get("safety.settle_seconds", 600.0),
        recent=planned.recent, looks_finished=planned.looks_finished, copies=planned.copies,
        retry_at=_local_time(planned.retry_at), threshold=dict(plan.threshold),
        furniture=planned.furniture.shown({r.fingerprint: r.video.rel for r in planned.results}),
        same_video=len(plan.same_video), reposts=sum(len(g) - 1 for g in plan.same_video),
        video_lines=tuple(VideoLine(r.video.rel, placement.assigned[r.video.rel], r.analysis.duration,
                                    r.analysis.n_frames, len(r.analysis.keyframes.indices))
                          for r in planned.results))


def _local_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import datetime
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="minutes")


def _drift(placement) -> dict | None:
    d = placement.drift
    if d is None:
        return None
    return {"current": round(d.current, 4), "fresh": round(d.fresh, 4), "recluster_moves": d.moves,
            "suggest_recluster": d.suggested}


def _move_report(report: mover.ApplyReport, recovered: int, dry_run: bool = False) -> MoveReport:
    """Apply: `run` is its run. Undo (dry or not): `run` is the apply run it reverses, `journal` its own run."""
    undo = bool(report.of_run)
    return MoveReport(report.of_run or report.run_id, report.moved, recovered,
                      tuple(Failure(p, r) for p, r in report.skipped), tuple(Failure(p, r) for p, r in report.failed),
                      dry_run, report.note, nothing_to_undo=undo and bool(report.note),
                      journal=report.run_id if undo and not dry_run and report.run_id != report.of_run else "")
