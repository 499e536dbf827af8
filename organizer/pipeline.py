"""organize(): check every argument, analyse the library (through the cache), place each video, build the plan.
It changes no video; the library service applies the plan."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from organizer.analysis.video import AnalysisParams
from organizer.clock import Laps
from organizer.config import OPTIONS, Settings, resolve
from organizer.engine.executor import (EngineChoice, Executor, Job, make_executor, model_process_wanted,
                                       usable_cores)
from organizer.errors import ModelUnavailable, NothingProcessed, OrganizerError
from organizer.layout import library_root
from organizer.features import FeatureSpec, imagenet_classes, read_labels
from organizer.store.inventory import Identified, identify
from organizer.grouping import library_stats as ls
from organizer.grouping.placement import Member, Placement, Rules, place, top_folder
from organizer.moves.plan import Plan
from organizer.moves.planner import build_plan
from organizer.scan import scan
from organizer.store.state import LibraryState
from organizer.types import UNSORTED, Failure, Furniture, NoProgress, Progress, VideoResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedRun:
    """The settings of one command, resolved once, before any work: everything below reads this, never the raw
    settings. Build it with `ResolvedRun.of(settings)`.

    settings: the settings as given (the plan records them). spec: the feature model and its identity (`space`).
    params: what decides an analysis. key: the analysis cache key (params with the model's space). rules: how
    videos are placed. engine: where analyses run."""

    settings: Settings
    spec: FeatureSpec
    params: AnalysisParams
    key: str
    rules: Rules
    engine: EngineChoice

    @classmethod
    def of(cls, settings: Settings) -> "ResolvedRun":
        """Resolve settings. Raises nothing: the settings were checked when they were made (config.resolve)."""
        spec, params = FeatureSpec.from_settings(settings), AnalysisParams.from_settings(settings)
        s = settings
        return cls(s, spec, params, params.key(spec),
                   Rules(s.n_clusters, s.max_distance, s.naming, s.seed, s.placement_min_cluster_size,
                         s.placement_reposts),
                   EngineChoice(s.engine_executor, s.n_workers, s.engine_video_timeout, s.engine_ray_address,
                                model_process_wanted(s.engine_model_process, spec)))

    @classmethod
    def recorded(cls, settings: dict) -> "ResolvedRun":
        """The run a plan's recorded settings describe (keys this organize does not know are left out). Raises
        ConfigError when they no longer resolve (a model file that is gone)."""
        return cls.of(resolve({k: v for k, v in settings.items() if k in OPTIONS}))

    def executor(self, debug: bool = False) -> Executor:
        """A new executor of the kind the settings ask for (worker processes start when it runs)."""
        return make_executor(self.spec, self.params, self.engine, debug)


@dataclass(frozen=True)
class Request:
    """A checked request: absolute folders, decided before any work is done."""

    root: Path
    dest: Path
    recluster: bool = False


@dataclass(frozen=True)
class Analysed:
    results: tuple[VideoResult, ...]
    failures: tuple[Failure, ...]
    frames: int = 0
    reused: int = 0
    backend: str = "none"


@dataclass(frozen=True)
class Planned:
    """What organize() decided: the plan, and everything the summary and the report show."""

    plan: Plan
    results: tuple[VideoResult, ...]
    placement: Placement
    frames: int
    reused: int
    cached: int
    backend: str
    seconds: float
    changed: bool                      # False: the library is as the last run left it (no state refresh needed)
    spec: FeatureSpec                  # the feature model (the report describes it)
    notes: tuple[str, ...] = ()        # warnings about how the run was done (not about the clusters)
    recent: int = 0                    # left alone only because they were modified within the settle time
    looks_finished: int = 0            # of those, how many look like a finished copy
    copies: int = 0                    # recently modified videos organized as finished copies
    retry_at: float | None = None      # when the last video left alone leaves the settle time (epoch s)
    timings: dict[str, float] = field(default_factory=dict)    # seconds per phase
    furniture: Furniture = Furniture()  # pictures that recur in unrelated videos (not counted by grouping)


def check_request(root, dest, recluster: bool) -> Request:
    """Every argument is checked here, before anything is analysed."""
    root = library_root(root)
    dest = Path(os.path.abspath(dest)) if dest else root
    if recluster and not dest.is_relative_to(root):
        raise OrganizerError("--recluster needs the cluster folders inside PATH (it may move files between them); "
                             "run it without --dest, on the folder that holds the cluster folders.")
    return Request(root, dest, recluster)


def class_names(spec: FeatureSpec) -> list[str] | None:
    """The class names that go with the model's scores (for folder names), without loading the model."""
    if spec.family == "tflite":
        return read_labels(spec.labels) if spec.labels else None
    return None if spec.random else imagenet_classes()


def organize(root, run: ResolvedRun, dest=None, progress: Progress | None = None, now: float | None = None,
             state: LibraryState | None = None, recluster: bool = False, thumbnails: bool = True,
             executor: Executor | None = None, retry_failed: bool = False, decisions: bool = True) -> Planned:
    """Analyse the videos under root (through the state's cache) and plan where each goes. Changes no video.

    thumbnails=False skips loading cached keyframe thumbnails (only the report and keyframe export need them);
    retry_failed analyses again the files remembered as impossible to analyse; decisions=False plans without what
    was decided in `organize review`."""
    laps = Laps()
    request = check_request(root, dest, recluster)
    state = state or LibraryState.memory()
    settings = run.settings
    progress = progress or NoProgress()
    progress.phase("scanning the library")
    found = scan(request.root, settings.safety_settle_seconds, now=now, stable_seconds=settings.safety_stable_seconds,
                 organize_finished=settings.safety_finished_copies == "organize")
    laps.lap("scan")
    index = state.stat_index()
    ids, unreadable = identify(found.videos, state, index)
    if retry_failed:
        state.forget_failures(run.key)
        state.forget_stuck()
    laps.lap("identify")
    analysed = analyse_library(ids, state, run.key, executor or run.executor(), progress, thumbnails)
    laps.lap("analyse")
    if found.videos and not analysed.results:
        raise NothingProcessed(f"None of the {len(found.videos)} video(s) under {request.root} could be processed; "
                               "see the reasons listed for each.")
    progress.phase(f"clustering {len(analysed.results)} video{'s' if len(analysed.results) != 1 else ''}")
    known = furnish(state, run.key, analysed.results, settings.seed)
    analysed = replace(analysed, results=known.results)
    placement, excluded = with_decisions(_place(request, analysed.results, state, run), analysed.results,
                                         state.decisions() if decisions else {})
    same = ls.same_files(known.same, analysed.results)
    placement, aside = with_reposts(placement, same, analysed.results, run.rules.reposts)
    laps.lap("place")
    notes = _engine_notes(run.engine) + _labels_note(run.spec, analysed.results)
    movable, stuck = _movable([r for r in analysed.results if r.video.rel not in excluded], placement,
                              state.stuck())
    plan = build_plan(request.root, request.dest, [(r.video, placement.assigned[r.video.rel]) for r in movable],
                      settings=settings.as_dict(),
                      skipped=list(found.skipped) + unreadable + list(analysed.failures) + stuck
                      + [Failure(rel, EXCLUDED) for rel in sorted(excluded)],
                      downloading=found.downloading, stay=placement.stay, distances=placement.distances,
                      mode=placement.mode, fingerprints={r.video.rel: r.fingerprint for r in movable},
                      threshold=placement.threshold.as_dict() if placement.threshold else None,
                      aside=aside, same_video=same)
    last = state.memberships()
    changed = bool(plan.moves) or set(index) != {(i.video.dev, i.video.ino) for i in ids} or any(
        placement.assigned[r.video.rel] != last.get(r.fingerprint) for r in analysed.results)
    laps.lap("plan")
    return Planned(plan, analysed.results, placement, analysed.frames, analysed.reused,
                   sum(r.cached for r in analysed.results), analysed.backend, laps.total, changed,
                   run.spec, notes=notes, timings=laps.laps, recent=found.recent, looks_finished=found.finished,
                   copies=found.copies, retry_at=found.retry_at, furniture=known.furniture)


def with_reposts(placement: Placement, same: list[list[str]], results, mode: str) -> tuple[Placement, set[str]]:
    """--reposts together or aside (grouping/library_stats.gathered); a copy that moves to another cluster loses
    the distance it had to its own."""
    assigned, aside = ls.gathered(placement.assigned, placement.stay, same, {r.video.rel: r for r in results}, mode)
    if assigned == placement.assigned:
        return placement, aside
    distances = {rel: d for rel, d in placement.distances.items() if assigned.get(rel) == placement.assigned.get(rel)}
    return replace(placement, assigned=assigned, distances=distances), aside


EXCLUDED = ("left where it is: you excluded it in organize review (run with --forget-decisions to let organize "
            "place it again)")


def with_decisions(placement: Placement, results, decisions: dict[str, tuple[str, str]]
                   ) -> tuple[Placement, set[str]]:
    """What a person decided in `organize review` outranks the model. A video they put in a cluster goes to that
    folder, except where an assign run finds it in another cluster folder (moved there by hand since: a hand move
    is a decision too). A video they excluded stays where it is: returned apart, as rels."""
    if not decisions:
        return placement, set()
    assigned, distances, excluded = dict(placement.assigned), dict(placement.distances), set()
    for r in results:
        kind, cluster = decisions.get(r.fingerprint, ("", ""))
        rel = r.video.rel
        if kind == "exclude":
            excluded.add(rel)
        elif kind == "cluster" and not (placement.mode == "assign" and rel in placement.stay):
            if assigned.get(rel) != cluster:
                distances.pop(rel, None)
            assigned[rel] = cluster
    return replace(placement, assigned=assigned, distances=distances), excluded


def _movable(results, placement: Placement, stuck: dict[str, str]) -> tuple[list[VideoResult], list[Failure]]:
    """The videos a plan may move, and those it leaves because their last move could not be completed."""
    movable, left = [], []
    for r in results:
        if r.fingerprint in stuck and r.video.rel not in placement.stay:
            left.append(Failure(r.video.rel, f"could not be moved last time ({stuck[r.fingerprint]}); fix that and "
                                             "run with --retry-failed to try again"))
        else:
            movable.append(r)
    return movable, left


def _engine_notes(engine: EngineChoice) -> tuple[str, ...]:
    cores = usable_cores()
    if engine.executor == "local" and engine.workers and engine.workers > cores:
        return (f"{engine.workers} workers on {cores} usable CPU core(s): they will take turns, which is "
                "allowed but rarely faster than one worker per core.",)
    return ()


def _labels_note(spec: FeatureSpec, results) -> tuple[str, ...]:
    """A labels file given with a model that has no class outputs is not silently ignored."""
    if spec.family != "tflite" or not spec.labels or not results:
        return ()
    if any(r.analysis.class_scores is not None for r in results):
        return ()
    return (f"The labels file {spec.labels} was not used: {spec.describe()} gives no class scores (it is an embedding "
            "model), so there are no classes to name folders by; clusters are numbered. Use a classifier model "
            "(for example mobilenet_v2_1.0_224_quant.tflite) with that labels file for named folders.",)


def furnish(state: LibraryState, key: str, results: tuple[VideoResult, ...], seed: int = 0) -> ls.Found:
    """What the whole library knows (grouping/library_stats.py): furniture and copies of one video, from the
    keyframes the state keeps (no video is decoded again). A run with no new analysis reads nothing: the marks,
    grouping vectors and groups the last run stored stand, unless they were found by another round of the rules
    (library_stats.RULES): then everything is judged again, once."""
    stats = f"{key} rules {ls.RULES}"
    known, known_same = state.furniture(stats), state.reposts(stats)
    if not results or all(r.cached for r in results) and state.knows_furniture(stats):
        return ls.Found(results, known, ls.merged(known_same, [], {r.fingerprint for r in results}))
    found = ls.look(results, lambda fps: state.keyframe_data(fps, key), known, known_same, seed,
                    lambda fps: state.timelines(fps, key), state.knows_furniture(stats))
    if found.changes:
        state.mark_furniture(found.changes, key)
    state.save_furniture(stats, found.furniture)
    state.save_reposts(stats, found.same)
    return found


def _place(request: Request, results: tuple[VideoResult, ...], state: LibraryState, run: ResolvedRun
           ) -> Placement:
    dest = os.fspath(request.dest)
    members = [Member(r.video.rel, r.fingerprint, r.analysis.group_vector, top_folder(os.fspath(r.video.path), dest,
                                                                                 os.sep), r.analysis.class_scores)
               for r in results]
    bare = [m for m, r in zip(members, results) if r.analysis.bare]
    placement = place([m for m, r in zip(members, results) if not r.analysis.bare], state.clusters(), run.rules,
                      run.spec.space, _names_for(run.spec, members), folders_in(request.dest), state.memberships(),
                      request.recluster)
    return with_bare(placement, bare)


def with_bare(placement: Placement, bare: list[Member]) -> Placement:
    """Videos whose every keyframe is library furniture (an intro and an end card were all that was seen) show
    nothing of their own to group by: one in a cluster folder stays there, the others wait in _unsorted."""
    if not bare:
        return placement
    known = set(placement.clusters.names)
    assigned, stay = dict(placement.assigned), set(placement.stay)
    for m in bare:
        assigned[m.rel] = m.folder if m.folder in known else UNSORTED
        if m.folder == assigned[m.rel]:
            stay.add(m.rel)
    note = (f"{len(bare)} video{'s' if len(bare) != 1 else ''} showed nothing but library furniture (an intro or an "
            "end card other videos share) in their keyframes; they are not grouped by it" + (
                f" and wait in {UNSORTED}" if any(assigned[m.rel] == UNSORTED for m in bare) else "") + ".")
    return replace(placement, assigned=assigned, stay=frozenset(stay), warnings=placement.warnings + (note,),
                   outside=placement.outside | {m.rel for m in bare if not m.folder})


def _names_for(spec: FeatureSpec, members: list[Member]) -> list[str] | None:
    """The class names, checked against the scores they name: analyses from the cache load no model, so the
    labels file is checked here, not only when a worker loads it."""
    names = class_names(spec)
    scores = next((m.class_scores for m in members if m.class_scores is not None), None)
    if names is not None and scores is None and members:
        return None                                    # an embedding model: nothing to name (_labels_note says so)
    if names is not None and scores is not None and len(names) != len(scores):
        raise ModelUnavailable(f"The labels file {spec.labels} has {len(names)} lines but the model gives "
                               f"{len(scores)} scores; pass the labels that belong to {spec.describe()}.")
    return names


def folders_in(dest: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(dest) if e.is_dir(follow_symlinks=False)}
    except OSError:
        return set()


def _import_sklearn() -> None:
    import sklearn.cluster  # noqa: F401
    import sklearn.metrics  # noqa: F401


def analyse_library(ids: list[Identified], state: LibraryState, key: str, executor: Executor,
                    progress: Progress, thumbnails: bool) -> Analysed:
    """Every video's analysis: from the cache, or computed now (once per distinct content) and stored."""
    lookup = state.lookup([i.fingerprint for i in ids], key, with_thumbnails=thumbnails)
    jobs: dict[str, Job] = {}
    for i in ids:
        if i.fingerprint not in lookup.analyses and i.fingerprint not in lookup.failures:
            jobs.setdefault(i.fingerprint, Job(i.fingerprint, os.fspath(i.video.path), i.video.size, i.video.rel))
    if jobs:      # clustering follows: import scikit-learn (a second) while the workers analyse
        threading.Thread(target=_import_sklearn, daemon=True, name="organize-import").start()
    fresh, failed, frames, reused, backend = {}, {}, 0, 0, ""
    if jobs:
        progress.phase(f"starting workers and loading the model for {len(jobs)} video{'s' if len(jobs) != 1 else ''}")
    started = False
    try:
        for outcome in executor.run(sorted(jobs.values(), key=lambda j: -j.size)):
            if not started:                    # no bar before the model is known to load (a bad model: no bar)
                progress.start(len(jobs))
                started = True
            fp = outcome.job.key
            if outcome.analysis is not None:
                state.store_analysis(fp, key, outcome.analysis)
                fresh[fp] = replace(outcome.analysis, timeline=None)    # read back from the state when needed
                frames += outcome.analysis.n_frames
                reused += outcome.analysis.reused
                backend = outcome.backend or backend
            else:
                if outcome.remember:
                    state.store_failure(fp, key, outcome.failure)
                failed[fp] = outcome.failure
            progress.advance(outcome.job.label)
    finally:
        progress.finish()
    results, failures = [], []
    for i in ids:
        fp = i.fingerprint
        if fp in lookup.analyses:
            results.append(VideoResult(i.video, fp, lookup.analyses[fp], cached=True))
        elif fp in fresh:
            results.append(VideoResult(i.video, fp, fresh[fp]))
        elif fp in lookup.failures:
            failures.append(Failure(i.video.rel, lookup.failures[fp] + " (remembered from an earlier run)"))
        elif fp in failed:
            failures.append(Failure(i.video.rel, failed[fp]))
    return Analysed(tuple(results), tuple(failures), frames, reused,
                    backend or ("cache" if results else "none"))
