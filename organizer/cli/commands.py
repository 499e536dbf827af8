"""The commands: each parses its options, opens the library service, calls one method and renders the result."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import click

from organizer.config import default_toml, resolve, user_config
from organizer.moves.manifest import parse_plan
from organizer.errors import OrganizerError
from organizer.outputs.export import export_videos
from organizer.library import Library, NeverOrganized, RunOptions
from organizer.moves.manifest import read_manifest
from organizer.cli.app import fail, main, model_options, settings_from, setup_logging
from organizer.cli.output import plural, print_moves, print_run, print_runs, progress_bar, shown

log = logging.getLogger("organizer")


@main.command("run")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--clusters", help="auto: groups of videos within --max-distance of their centre, the others wait in "
              "_unsorted [default]; or N: KMeans with N clusters (a ceiling to grow into on a first run with fewer "
              "than placement.min_cluster_size x N videos).")
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
@click.option("--max-distance", metavar="D|auto", help="How close (cosine distance, 0..2) a video must be to a "
              "centre to belong: auto's groups, joining a cluster on later runs, new clusters from _unsorted. auto "
              "(the default) calibrates it from the library's own distances in the model's feature space.")
@click.option("--reposts", type=click.Choice(["keep", "together", "aside"]), help="Files that are the same video "
              "(copies re-encoded, resized, cropped, mirrored or trimmed): keep (each where it belongs), together (in "
              "the cluster of the best copy), aside (and all but the best in that cluster's _reposts/) [default: "
              "keep]. Nothing is deleted.")
@click.option("--retry-failed", is_flag=True, help="Analyse again the files remembered as impossible to analyse "
              "(a decoder crash, a time-out, an unreadable file); otherwise they are retried only when they change.")
@click.option("--rebuild-state", is_flag=True, help="Move a damaged state database (PATH/.organizer/state.sqlite) "
              "aside and start a fresh one; features are recomputed.")
@click.option("--forget-decisions", is_flag=True, help="Plan without what was decided in `organize review` (videos "
              "kept in a cluster, videos left where they are), and forget those decisions when the plan is applied.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
@model_options
def run_cmd(path, clusters, dest, dry_run, manifest, report_path, keyframes_dir, naming, settle_seconds, recluster,
            max_distance, reposts, retry_failed, rebuild_state, forget_decisions, as_json, config_file, weights, model, backend,
            labels, sample_fps, max_frames, batch_size, seed, workers, executor, ray_address, quiet, verbose, debug,
            log_file):
    """Organize the videos under PATH into one folder per group.

    The first run clusters the library. Later runs reuse the features cached in PATH/.organizer/state.sqlite and
    put new videos into the existing folders (nearest centroid); files you moved between cluster folders stay
    where you put them.
    """
    setup_logging(debug, log_file, quiet or as_json)
    try:
        settings = settings_from(config_file, clusters=clusters, naming=naming, seed=seed, sample_fps=sample_fps,
                                 max_frames=max_frames, weights=weights, model=model, labels=labels,
                                 batch_size=batch_size, settle_seconds=settle_seconds, max_distance=max_distance,
                                 reposts=reposts, backend=backend, workers=workers, executor=executor, ray_address=ray_address)
        options = RunOptions(dest, dry_run, manifest, report_path, keyframes_dir, recluster, retry_failed, debug,
                             forget_decisions)
        if settings.features_weights == "random" and not settings.features_model and not quiet and not as_json:
            click.echo("Note: using random InceptionV3 weights (--weights random): groups will not reflect "
                       "what the videos show.", err=True)
        bar = progress_bar(quiet, as_json, "Analysing videos")
        try:
            with Library.open(path, rebuild_state, read_only_ok=dry_run and manifest is not None) as library:
                report = library.run(settings, options, bar)
        finally:
            if bar is not None:
                bar.close()
    except OrganizerError as exc:
        fail(exc, debug, as_json)
    for warning in report.warnings:
        log.warning("%s", warning)
    if as_json:
        click.echo(report.to_json())
    elif not quiet:
        print_run(report, verbose)
    sys.exit(report.exit_code)


def move_options(f):
    """--json, -q and --debug of the commands that move files (apply, undo)."""
    f = click.option("--debug", is_flag=True, help="Show tracebacks.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")(f)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")(f)


@main.command("apply")
@click.argument("manifest", type=click.Path(path_type=Path))
@move_options
def apply_cmd(manifest, as_json, quiet, debug):
    """Apply a saved plan exactly; files changed since planning are skipped with a reason."""
    setup_logging(debug, None, quiet or as_json)
    try:
        plan = parse_plan(read_manifest(manifest), str(manifest))
        with Library.open(plan.root) as library:
            report = library.apply(plan)
    except OrganizerError as exc:
        fail(exc, debug, as_json)
    _show_moves(report, as_json, quiet, "Moved")


@main.command("undo")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--run", "run_id", help="Undo this run instead of the most recent one (see `organize runs`).")
@click.option("--dry-run", is_flag=True, help="Say what would move back; change nothing.")
@move_options
def undo_cmd(path, run_id, dry_run, as_json, quiet, debug):
    """Move the files of the last applied run (or --run ID) back where they were."""
    setup_logging(debug, None, quiet or as_json)
    try:
        with Library.open(path, with_state=False, existing=True) as library:
            report = library.undo(run_id, dry_run)
    except OrganizerError as exc:
        fail(exc, debug, as_json)
    _show_moves(report, as_json, quiet, "Would move back" if dry_run else "Moved back")


def _show_moves(report, as_json: bool, quiet: bool, verb: str) -> None:
    if as_json:
        click.echo(report.to_json())
    elif not quiet:
        print_moves(report, verb)
    sys.exit(report.exit_code)


@main.command("runs")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_cmd(path, as_json):
    """List the runs applied to PATH (newest last), with their ids for `undo --run`."""
    try:
        with Library.open(path, lock=False, with_state=False, existing=True) as library:
            runs = library.runs()
    except NeverOrganized:
        runs = []
    except OrganizerError as exc:
        fail(exc, False, as_json)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in runs]))
    elif not runs:
        click.echo(f"No runs recorded in {shown(path)}.")
    else:
        print_runs(runs)


@main.command("keyframes")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Write OUT/<video stem>/ with JPEGs and keyframes.json.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
@model_options
def keyframes_cmd(videos, out_dir, as_json, config_file, weights, model, backend, labels, sample_fps, max_frames,
                  batch_size, seed, workers, executor, ray_address, quiet, verbose, debug, log_file):
    """Export one image per distinct picture of each VIDEO (a folder stands for the videos in it)."""
    setup_logging(debug, log_file, quiet or as_json)
    written, failed = [], []
    try:
        settings = settings_from(config_file, seed=seed, sample_fps=sample_fps, max_frames=max_frames,
                                 weights=weights, model=model, labels=labels, batch_size=batch_size, backend=backend,
                                 workers=workers, executor=executor, ray_address=ray_address)
        for done in export_videos(list(videos), settings, out_dir, debug=debug):
            if done.folder is None:
                failed.append({"video": done.video, "reason": done.reason})
                click.echo(f"Error: {shown(done.video)} {shown(done.reason)}", err=True)
                continue
            written.append({"video": done.video, "folder": done.folder, "keyframes": done.keyframes})
            if not quiet and not as_json:
                click.echo(f"{shown(done.video)}: {plural(done.keyframes, 'keyframe')} -> {shown(done.folder)}")
    except OrganizerError as exc:
        fail(exc, debug, as_json)
    if as_json:
        click.echo(json.dumps({"written": written, "failed": failed, "exit_code": 1 if failed else 0}))
    sys.exit(1 if failed else 0)


@main.command("review")
@click.argument("target", required=False, default=".", type=click.Path(exists=True, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Listen on this port of 127.0.0.1 (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the page's address; do not open a browser.")
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=1800, show_default=True, metavar="SECONDS",
              help="Stop after this long without a request from the page.")
@click.option("--debug", is_flag=True, help="Show tracebacks and every request.")
def review_cmd(target, port, no_browser, idle_timeout, debug):
    """Review a plan in the browser before moving anything: rename clusters, move videos between them, exclude
    videos, merge clusters; save the result as a new manifest (the old one stays as it was) and apply it.

    TARGET is a manifest, or a library folder (its newest plan not yet applied) [default: the current folder].
    The page is served on 127.0.0.1 only, at an address with a random token; the library stays locked until the
    review stops (Ctrl-C, or --idle-timeout). What you decide is remembered: later runs keep a video where you put
    it, or leave an excluded one where it is (`organize PATH --forget-decisions` forgets)."""
    from organizer.review.server import ReviewServer
    from organizer.review.session import ReviewSession, plan_target

    setup_logging(debug, None, False)
    try:
        root, plan = plan_target(target)
        with Library.open(root, existing=True) as library:
            session = ReviewSession.open(library, None if plan is None else target)
            server = ReviewServer(session, port, idle_timeout)
            click.echo(f"Reviewing {shown(session.manifest)}")
            click.echo(f"Open {server.url}  (Ctrl-C stops the review)", nl=True)
            sys.stdout.flush()
            if not no_browser:
                import webbrowser
                webbrowser.open(server.url)
            try:
                why = server.serve()
            except KeyboardInterrupt:
                why = "stopped"
    except OrganizerError as exc:
        fail(exc, debug)
    click.echo("The review stopped after " + (f"{idle_timeout:g} s without a request." if why == "idle" else
                                              "Ctrl-C.") + " The library is unlocked.")


@main.command("config")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Show the values in effect with this "
              "settings file instead of the defaults.")
def config_cmd(config_file):
    """Print every setting with its meaning, range and default: a settings file to start from. With a settings file
    (--config, or ~/.config/organizer/config.toml when it exists), the values in effect with it."""
    try:
        config_file = config_file or user_config()
        if config_file:
            click.echo(f"# read from {config_file}")
        click.echo(default_toml(resolve({}, config_file) if config_file else None), nl=False)
    except OrganizerError as exc:
        fail(exc, False)
