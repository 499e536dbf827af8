"""The `organize` command. Only this module imports click and rich; it parses, calls the library, reports."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from . import __version__
from .config import OPTIONS, Settings, resolve
from .errors import OrganizerError

EXIT_CODES = {
    0: "success (some files may have been skipped; they are listed with reasons)",
    1: "error: bad settings, unusable model, invalid manifest, or another problem explained in the message",
    2: "usage error: unknown option or bad value on the command line",
    3: "another organize run holds the library lock; nothing was changed",
    4: "videos were found but none could be processed",
    5: "some planned moves failed (each is listed with its reason); the others were done",
    6: "the library state database is damaged, foreign or from a newer organize; nothing was changed "
       "(--rebuild-state starts a fresh one)",
}

COMMANDS = ("run", "apply", "undo", "runs", "keyframes")


class DefaultGroup(click.Group):
    """`organize PATH ...` means `organize run PATH ...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args.insert(0, "run")
        return super().parse_args(ctx, args)


def _model_options(f):
    opts = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file "
                     "(see configs/default.toml). Flags override it."),
        click.option("--weights", help="InceptionV3 weights: imagenet (default), random (offline tests), or an "
                     ".h5/.keras file."),
        click.option("--model", type=click.Path(dir_okay=False), help="Use this .tflite image model instead of "
                     "InceptionV3."),
        click.option("--backend", type=click.Choice(["auto", "keras"]), help="auto: run InceptionV3 as a TFLite "
                     "conversion made once and cached (checked against Keras); keras: always Keras [default: auto]."),
        click.option("--labels", type=click.Path(dir_okay=False), help="Class names (one per line) for a TFLite "
                     "classifier given with --model; enables cluster names."),
        click.option("--sample-fps", type=float, help="Frames sampled per second [default: 1]."),
        click.option("--max-frames", type=int, help="At most this many frames per video [default: 64]."),
        click.option("--batch-size", type=int, help="Frames per model call [default: 32]."),
        click.option("--seed", type=int, help="Random seed [default: 0]."),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
        click.option("-v", "--verbose", is_flag=True, help="Per-video details."),
        click.option("--debug", is_flag=True, help="Show tracebacks and debug logging."),
        click.option("--log", "log_file", type=click.Path(dir_okay=False), help="Also append a log to FILE."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _settings(config_file, **flags) -> Settings:
    mapping = {"clusters": "clusters", "naming": "naming", "seed": "seed", "sample_fps": "sampling.fps",
               "max_frames": "sampling.max_frames", "weights": "features.weights", "model": "features.model",
               "labels": "features.labels", "batch_size": "features.batch_size", "backend": "features.backend",
               "settle_seconds": "safety.settle_seconds", "max_distance": "placement.max_distance"}
    return resolve({mapping[k]: v for k, v in flags.items() if k in mapping}, config_file)


def _setup_logging(debug: bool, log_file: str | None, quiet: bool) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING))
    err.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(err)
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(logging.DEBUG if debug else logging.INFO)
        root.addHandler(fh)
    for noisy in ("tensorflow", "absl", "h5py", "PIL"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _console(stderr: bool = False):
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(exc: OrganizerError, debug: bool, as_json: bool = False) -> None:
    if debug:
        import traceback
        traceback.print_exc()
    if as_json:
        click.echo(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
    click.echo(f"Error: {exc}", err=True)
    sys.exit(exc.exit_code)


class RichProgress:
    def __init__(self, label: str):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                           TextColumn("{task.fields[current]}"), console=_console(), transient=True)
        self._label = label
        self._task = None

    def start(self, total: int) -> None:
        self._p.start()
        self._task = self._p.add_task(self._label, total=total, current="")

    def advance(self, label: str) -> None:
        self._p.update(self._task, advance=1, current=label[-40:])

    def finish(self) -> None:
        self._p.stop()


def _progress(quiet: bool, as_json: bool, label: str):
    if quiet or as_json or not sys.stdout.isatty():
        return None
    return RichProgress(label)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()))
@click.version_option(__version__, prog_name="organize")
def main():
    """Group a library of videos by what they show.

    \b
      organize ~/Videos --clusters 30 --dry-run     plan, write a manifest and a report, change nothing
      organize apply ~/Videos/.organizer/plans/...  do exactly what a saved plan says
      organize undo ~/Videos                        move the last run's files back
      organize keyframes clip.mp4 -o stills/        export one image per distinct picture
    """


@main.command("run")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--clusters", help="Number of clusters, or 'auto' to choose by silhouette [default: auto]. More than "
              "the number of videos is clamped with a warning.")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Put cluster folders here instead of inside PATH.")
@click.option("--dry-run", is_flag=True, help="Plan only: write the manifest (and report), change nothing.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the plan [default: PATH/.organizer/plans/<time>.json].")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the HTML report here [default with --dry-run: next to the manifest, same name .html].")
@click.option("--keyframes-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also save every video's keyframes here (as `organize keyframes` does).")
@click.option("--naming", type=click.Choice(["labels", "index"]), help="Folder names from ImageNet classes "
              "(labels, the default) or numbers (index).")
@click.option("--settle-seconds", type=float, help="Leave files modified this recently alone [default: 600].")
@click.option("--recluster", is_flag=True, help="Cluster the whole library again; new clusters take over the old "
              "folders' names (Hungarian matching) so that as few files as possible move.")
@click.option("--max-distance", type=float, help="A new video farther than this from every cluster centroid goes "
              "to _unsorted (or a new cluster) [default: 0.7].")
@click.option("--rebuild-state", is_flag=True, help="Move a damaged state database (PATH/.organizer/state.sqlite) "
              "aside and start a fresh one; features are recomputed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
@_model_options
def run_cmd(path, clusters, dest, dry_run, manifest, report_path, keyframes_dir, naming, settle_seconds, recluster,
            max_distance, rebuild_state, as_json, config_file, weights, model, backend, labels, sample_fps,
            max_frames, batch_size, seed, quiet, verbose, debug, log_file):
    """Organize the videos under PATH into one folder per group.

    The first run clusters the library. Later runs reuse the features cached in PATH/.organizer/state.sqlite and
    put new videos into the existing folders (nearest centroid); files you moved between cluster folders stay
    where you put them.
    """
    _setup_logging(debug, log_file, quiet or as_json)
    try:
        settings = _settings(config_file, clusters=clusters, naming=naming, seed=seed, sample_fps=sample_fps,
                             max_frames=max_frames, weights=weights, model=model, labels=labels,
                             batch_size=batch_size, settle_seconds=settle_seconds, max_distance=max_distance,
                             backend=backend)
        code = _run(path, dest, settings, dry_run, manifest, report_path, keyframes_dir, as_json, quiet, verbose,
                    recluster, rebuild_state)
    except OrganizerError as exc:
        _fail(exc, debug, as_json)
    sys.exit(code)


@contextlib.contextmanager
def _open_library(root: Path, may_go_without: bool, rebuild_state: bool):
    """Lock the library and open its state. A dry run with --manifest elsewhere can still plan a library it cannot
    write to (a read-only mount): without a lock and without a cache."""
    from .errors import LibraryNotWritable
    from .mover import library_lock, state_dir
    from .state import LibraryState

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(library_lock(root))
            state = stack.enter_context(LibraryState.open(state_dir(root), rebuild=rebuild_state))
        except LibraryNotWritable as exc:
            if not may_go_without:
                raise
            logging.getLogger("organizer").warning("%s Planning without a lock or a cache.", str(exc).split(";")[0])
            state = stack.enter_context(LibraryState.memory())
        yield state


def _run(path: Path, dest, settings: Settings, dry_run: bool, manifest, report_path, keyframes_dir, as_json,
         quiet, verbose, recluster=False, rebuild_state=False) -> int:
    from .mover import apply_plan, recover, state_dir
    from .pipeline import export_keyframes, organize, refresh_state
    from .state import now_iso

    if not path.is_dir():
        raise OrganizerError(f"{path} is not a folder; pass the folder that holds your videos.")
    root = Path(os.path.abspath(path))
    log = logging.getLogger("organizer")
    started = now_iso()
    with _open_library(root, dry_run and manifest is not None, rebuild_state) as state:
        recovered = 0 if dry_run else recover(root)
        if settings.features_weights == "random" and not settings.features_model and not quiet and not as_json:
            click.echo("Note: using random InceptionV3 weights (--weights random): groups will not reflect "
                       "what the videos show.", err=True)
        result = organize(root, settings, dest, progress=_progress(quiet, as_json, "Analysing videos"),
                          state=state, recluster=recluster,
                          thumbnails=bool(dry_run or report_path or keyframes_dir))
        plan = result.plan
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        manifest_path = Path(manifest) if manifest else state_dir(root) / "plans" / f"{stamp}.json"
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(plan.to_json(), encoding="ascii")
        if report_path is None and dry_run:
            report_path = manifest_path.with_suffix(".html")
        if report_path:
            from .report import write_html_report
            write_html_report(report_path, plan, result.results, result.names, result.labels, dry_run)
        if keyframes_dir:
            for r in result.results:
                export_keyframes(r, keyframes_dir)
        report = None
        if not dry_run:
            report = apply_plan(plan, lock=False)
            if result.changed or report.moved or recovered:
                refresh_state(state, root, Path(plan.dest), settings, [c.name for c in plan.clusters],
                              reset_mean=plan.mode != "assign")
        state.record_run(started, "dry-run" if dry_run else plan.mode, {
            "videos": len(result.results), "new": len(result.new), "moved": report.moved if report else 0,
            "skipped": len(plan.skipped) + (len(report.skipped) if report else 0),
            "downloading": len(plan.downloading), "errors": len(report.failed) if report else 0},
            result.seconds, report.run_id if report else None)
        for w in result.warnings:
            log.warning(w)
        log.info("run %s: %d videos, %d clusters, %d moves planned, %d skipped, %d downloading",
                 root, len(result.results), result.n_clusters, len(plan.moves), len(plan.skipped),
                 len(plan.downloading))
    failed = report.failed if report else []
    summary = {
        "root": plan.root, "dest": plan.dest, "dry_run": dry_run, "manifest": str(manifest_path),
        "report": str(report_path) if report_path else None,
        "mode": plan.mode, "videos": len(result.results), "cached": result.cached,
        "new": result.new,
        "clusters": [{"name": c.name, "size": c.size} for c in plan.clusters],
        "auto_scores": {str(k): round(v, 4) for k, v in result.auto_scores.items()},
        "planned": len(plan.moves), "moved": report.moved if report else 0, "in_place": plan.in_place,
        "skipped": [{"path": f.path, "reason": f.reason} for f in plan.skipped]
        + [{"path": p, "reason": r} for p, r in (report.skipped if report else [])],
        "downloading": [{"path": f.path, "reason": f.reason} for f in plan.downloading],
        "errors": [{"path": p, "reason": r} for p, r in failed],
        "recovered": recovered, "frames": result.frames, "frames_reused": result.reused, "backend": result.backend,
        "warnings": result.warnings, "seconds": round(result.seconds, 2),
    }
    code = 5 if failed else 0
    summary["exit_code"] = code
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=True))
    elif not quiet:
        _print_summary(result, summary, verbose)
    return code


def _print_summary(result, summary: dict, verbose: bool) -> None:
    from rich.table import Table
    from rich.markup import escape

    console = _console()
    plan = result.plan
    moves_by_cluster: dict[str, int] = {}
    for m in plan.moves:
        moves_by_cluster[m.cluster] = moves_by_cluster.get(m.cluster, 0) + 1
    table = Table(title=f"{summary['videos']} videos in {len(plan.clusters)} clusters")
    table.add_column("cluster")
    table.add_column("videos", justify="right")
    table.add_column("to move", justify="right")
    for c in plan.clusters:
        table.add_row(escape(c.name), str(c.size), str(moves_by_cluster.get(c.name, 0)))
    console.print(table)
    if verbose:
        detail = Table(title="videos")
        for col in ("video", "cluster", "duration", "frames", "keyframes"):
            detail.add_column(col)
        for r, label in zip(result.results, result.labels):
            detail.add_row(escape(r.video.rel), escape(result.names[label]), f"{r.duration:.1f}s",
                           str(r.n_frames), str(len(r.keyframes.indices)))
        console.print(detail)
    for key, title in (("skipped", "Skipped"), ("downloading", "Still downloading"), ("errors", "Failed")):
        for item in summary[key]:
            console.print(f"[yellow]{title}:[/] {escape(item['path'])}: {escape(item['reason'])}")
    shown = summary["new"] if summary["mode"] == "assign" or verbose else []     # a first run: the table says it
    for item in shown[:50]:
        dist = f" (distance {item['distance']:.3f})" if item["distance"] is not None else ""
        console.print(f"New: {escape(item['path'])} -> {escape(item['cluster'])}{dist}")
    if len(shown) > 50:
        console.print(f"... and {len(summary['new']) - 50} more new videos (see the manifest or --json)")
    if summary["mode"] == "recluster":
        console.print(f"Reclustering moves {summary['planned']} of {summary['videos']} videos; matched clusters "
                      "keep their folder names.")
    if summary["frames"] or summary["cached"]:
        console.print(f"Analysed {summary['frames']} frame(s) of new or changed videos "
                      f"({summary['frames_reused']} reused the features of a near-identical frame); "
                      f"{summary['cached']} video(s) came from the cache.")
    verb = "Planned" if summary["dry_run"] else "Moved"
    count = summary["planned"] if summary["dry_run"] else summary["moved"]
    console.print(f"{verb} {count} move(s); {summary['in_place']} already in place; "
                  f"{len(summary['skipped'])} skipped; {len(summary['downloading'])} still downloading. "
                  f"Manifest: {escape(summary['manifest'])}")
    if summary["report"]:
        console.print(f"Report: {escape(summary['report'])}")
    if summary["dry_run"]:
        console.print(f"Nothing was changed. To apply this plan: organize apply {escape(summary['manifest'])}")


@main.command("apply")
@click.argument("manifest", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def apply_cmd(manifest, as_json, quiet, debug):
    """Apply a saved plan exactly; files changed since planning are skipped with a reason."""
    from .mover import apply_plan, library_lock
    from .planner import Plan

    _setup_logging(debug, None, quiet or as_json)
    try:
        plan = Plan.from_json(manifest.read_text(encoding="utf-8", errors="surrogateescape"), str(manifest))
        with library_lock(Path(plan.root)):
            report = apply_plan(plan, lock=False)
            _remember_applied(plan)
    except OrganizerError as exc:
        _fail(exc, debug, as_json)
    _report_moves(report, as_json, quiet, "Moved")
    sys.exit(5 if report.failed else 0)


def _remember_applied(plan) -> None:
    """Record the applied plan's clusters in the library state, as a run would. The files have already moved, so
    a problem here is a warning (the next run repairs the state), never a failure."""
    from .mover import state_dir
    from .pipeline import refresh_state
    from .state import LibraryState

    try:
        settings = resolve({k: v for k, v in plan.settings.items() if k in OPTIONS})
        with LibraryState.open(state_dir(Path(plan.root))) as state:
            refresh_state(state, Path(plan.root), Path(plan.dest), settings, [c.name for c in plan.clusters],
                          reset_mean=plan.mode != "assign")
    except OrganizerError as exc:
        logging.getLogger("organizer").warning("The moves were applied but the library state was not updated: %s",
                                               exc)


def _report_moves(report, as_json: bool, quiet: bool, verb: str) -> None:
    data = {"run": report.run_id, "moved": report.moved, "recovered": report.recovered,
            "skipped": [{"path": p, "reason": r} for p, r in report.skipped],
            "errors": [{"path": p, "reason": r} for p, r in report.failed],
            "exit_code": 5 if report.failed else 0}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=True))
        return
    if quiet:
        return
    for p, r in report.skipped:
        click.echo(f"Skipped: {p}: {r}")
    for p, r in report.failed:
        click.echo(f"Failed: {p}: {r}")
    click.echo(f"{verb} {report.moved} file(s); {len(report.skipped)} skipped; {len(report.failed)} failed"
               + (f"; {report.recovered} interrupted operation(s) recovered" if report.recovered else "")
               + (f" (run {report.run_id})" if report.run_id else "") + ".")


@main.command("undo")
@click.argument("path", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--run", "run_id", help="Undo this run instead of the most recent one (see `organize runs`).")
@click.option("--dry-run", is_flag=True, help="Say what would move back; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def undo_cmd(path, run_id, dry_run, as_json, quiet, debug):
    """Move the files of the last applied run (or --run ID) back where they were."""
    from .mover import undo

    _setup_logging(debug, None, quiet or as_json)
    try:
        report = undo(path, run_id, dry_run=dry_run)
    except OrganizerError as exc:
        _fail(exc, debug, as_json)
    _report_moves(report, as_json, quiet, "Would move back" if dry_run else "Moved back")
    sys.exit(5 if report.failed else 0)


@main.command("runs")
@click.argument("path", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_cmd(path, as_json):
    """List the runs applied to PATH (newest last), with their ids for `undo --run`."""
    from dataclasses import asdict

    from .mover import list_runs

    runs = list_runs(Path(os.path.abspath(path)))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in runs]))
        return
    if not runs:
        click.echo(f"No runs recorded in {path}.")
        return
    for r in runs:
        extra = f" of {r.undo_of}" if r.undo_of else ""
        click.echo(f"{r.id}  {r.kind}{extra}  {r.created}  moved {r.moved}  {r.status}")


@main.command("keyframes")
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Write OUT/<video stem>/ with JPEGs and keyframes.json.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
@_model_options
def keyframes_cmd(videos, out_dir, as_json, config_file, weights, model, backend, labels, sample_fps, max_frames,
                  batch_size, seed, quiet, verbose, debug, log_file):
    """Export one image per distinct picture of each VIDEO."""
    from .errors import VideoUnreadable
    from .features import load_backend
    from .pipeline import analyze_video, export_keyframes

    _setup_logging(debug, log_file, quiet or as_json)
    written, failed = [], []
    try:
        settings = _settings(config_file, seed=seed, sample_fps=sample_fps, max_frames=max_frames, weights=weights,
                             model=model, labels=labels, batch_size=batch_size, backend=backend)
        backend = load_backend(settings)
        for video in videos:
            try:
                if not video.is_file():
                    raise VideoUnreadable("does not exist or is not a regular file")
                result, _ = analyze_video(video, settings, backend)
                folder = export_keyframes(result, out_dir)
                written.append({"video": str(video), "folder": str(folder),
                                "keyframes": len(result.keyframes.indices)})
                if not quiet and not as_json:
                    click.echo(f"{video}: {len(result.keyframes.indices)} keyframe(s) -> {folder}")
            except VideoUnreadable as exc:
                failed.append({"video": str(video), "reason": str(exc)})
                click.echo(f"Error: {video} {exc}", err=True)
    except OrganizerError as exc:
        _fail(exc, debug, as_json)
    if as_json:
        click.echo(json.dumps({"written": written, "failed": failed, "exit_code": 1 if failed else 0}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":   # pragma: no cover
    main()
