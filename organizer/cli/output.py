"""Everything the terminal shows: a progress bar, the summaries, and one function through which every file name
passes (control characters made visible, so a hostile name cannot drive the terminal)."""

from __future__ import annotations

import shlex

import sys
import unicodedata

import click

from organizer.summary import MoveReport, RunReport, clusters_line
from organizer.types import UNSORTED

_BIDI = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def shown(text: object) -> str:
    """Text safe for a terminal: control characters, bidirectional overrides and undecodable bytes appear as
    escapes (\\n, \\x1b, \\u202e, \\xff), as `ls -b` does; everything else is unchanged."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:                     # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def console(stderr: bool = False):
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _m(text: object) -> str:
    """A file name for rich markup: visible control characters, then markup escaped."""
    from rich.markup import escape
    return escape(shown(text))


class RichProgress:
    """What the run is doing on the terminal (transient): a phase with a spinner (scanning, starting the workers,
    clustering, moving), and the analysis as a bar with n/N, elapsed time and ETA once the first video is done.
    On a narrow terminal the columns that do not fit are left out instead of squeezing the bar."""

    WIDE = 100               # below this many columns: no ETA, no elapsed time, no file name

    def __init__(self, label: str, width: int | None = None):
        from rich.progress import (BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        out = console()
        wide = (width or out.width) >= self.WIDE
        counts = TextColumn("{task.fields[count]}")          # n/N for the analysis; nothing for a phase
        columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=None if wide else 20),
                   counts]
        if wide:
            columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        TextColumn("{task.fields[current]}")]
        self.columns = columns
        self._p = Progress(*columns, console=out, transient=True)
        self._label = label
        self._task = None
        self._phase = None

    def phase(self, name: str) -> None:
        if self._phase is None:
            self._p.start()
            self._phase = self._p.add_task(name, total=None, current="", count="")
        self._p.update(self._phase, description=name)

    def start(self, total: int) -> None:
        if self._phase is not None:
            self._p.update(self._phase, visible=False)
        else:
            self._p.start()
        self._task = self._p.add_task(self._label, total=total, current="", count=f"0/{total}")
        self._total, self._done = total, 0

    def advance(self, label: str) -> None:
        self._done += 1
        self._p.update(self._task, advance=1, current=_m(label[-40:]), count=f"{self._done}/{self._total}")

    def finish(self) -> None:
        if self._task is not None:
            self._p.update(self._task, visible=False)
        if self._phase is not None:
            self._p.update(self._phase, visible=True)

    def close(self) -> None:
        """Take the display down (before the summary is printed)."""
        self._p.stop()


def progress_bar(quiet: bool, as_json: bool, label: str):
    if quiet or as_json or not sys.stdout.isatty():
        return None
    return RichProgress(label)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 video', '2 videos', '0 moves'."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else plural(round(seconds), "second")


def print_run(report: RunReport, verbose: bool) -> None:
    """The human summary of `organize PATH`."""
    from rich.table import Table

    out = console()
    table = Table(title=clusters_line(report.videos, [(c.name, c.size) for c in report.clusters]))
    for col, justify in (("cluster", "left"), ("videos", "right"), ("to move", "right")):
        table.add_column(col, justify=justify)
    for c in sorted(report.clusters, key=lambda c: (c.name == UNSORTED, c.name)):
        table.add_row(_m(c.name), str(c.size), str(c.to_move))
    if report.clusters:
        out.print(table)
    if report.k_choice:
        out.print(f"Number of clusters: {_m(report.k_choice)}.")
    if report.threshold.get("why"):
        out.print(f"Close enough to belong: {_m(report.threshold['why'])}.")
    if report.furniture:
        out.print(furniture_line(report.furniture))
    if report.same_video:
        out.print(f"Same video: {plural(report.same_video, 'group')} of copies ({plural(report.reposts, 'copy', 'copies')}"
                  " besides the best of each) are listed in the plan as same_video; --reposts together or aside "
                  "gathers them. Nothing is deleted.")
    if verbose:
        _print_videos(out, report)
    for item in report.skipped:
        out.print(f"[yellow]Skipped:[/] {_m(item.path)}: {_m(item.reason)}")
    for item in report.errors:
        out.print(f"[red]Failed:[/] {_m(item.path)}: {_m(item.reason)}")
    _print_downloading(out, report, verbose)
    _print_new(out, report, verbose)
    if report.mode == "recluster":
        out.print(f"Reclustering moves {report.planned} of {plural(report.videos, 'video')}; matched clusters keep "
                  "their folder names.")
    if report.frames or report.cached:
        out.print(f"Analysed {plural(report.frames, 'frame')} of new or changed videos ({report.frames_reused} "
                  f"reused the features of a near-identical frame); {plural(report.cached, 'video')} came from the "
                  "cache.")
    done = plural(report.planned, "move") + " planned" if report.dry_run else plural(report.moved, "file") + " moved"
    out.print(f"{done[0].upper() + done[1:]}; {report.in_place} already in place; {len(report.skipped)} skipped; "
              f"{len(report.downloading)} still downloading. Manifest: {_m(report.manifest)}")
    if report.report:
        out.print(f"Report: {_m(report.report)}")
    if report.dry_run and report.planned:
        out.print(f"Nothing was changed. To apply this plan: organize apply {_m(shlex.quote(report.manifest))}")
    elif report.dry_run:
        out.print("Nothing was changed, and there is nothing to move.")


def _print_videos(out, report: RunReport) -> None:
    """Per-video detail: everything on a first run or a recluster; on a nightly run only the new videos."""
    from rich.table import Table

    new = {n.path for n in report.new}
    lines = [v for v in report.video_lines if report.mode != "assign" or v.path in new]
    if not lines:
        return
    detail = Table(title="new videos" if report.mode == "assign" else "videos")
    for col in ("video", "cluster", "duration", "frames", "keyframes"):
        detail.add_column(col)
    for v in lines:
        detail.add_row(_m(v.path), _m(v.cluster), f"{v.duration:.1f}s", str(v.frames), str(v.keyframes))
    out.print(detail)


def _print_downloading(out, report: RunReport, verbose: bool) -> None:
    """Files left alone as downloads: one line each with -v, else one summary line."""
    if verbose:
        for item in report.downloading:
            out.print(f"[yellow]Still downloading:[/] {_m(item.path)}: {_m(item.reason)}")
        return
    if report.copies:
        one = report.copies == 1
        out.print(f"{plural(report.copies, 'video')} modified in the last {_duration(report.settle_seconds)} "
                  f"{'is' if one else 'are'} a finished copy (nothing writes {'it' if one else 'them'}, "
                  f"{'it does' if one else 'they do'} not grow, and {'it plays' if one else 'they play'} to the "
                  f"end): organized now.")
    if report.recent:
        one = report.recent == 1
        again = f" until {report.retry_at[11:16]}" if report.retry_at else ""
        line = (f"{plural(report.recent, 'file')} {'was' if one else 'were'} modified in the last "
                f"{_duration(report.settle_seconds)} and may still be downloading; {'it is' if one else 'they are'} "
                f"left alone{again} (the settle time); a run after that looks again. Or pass --settle-seconds 0.")
        if report.looks_finished:
            few = report.looks_finished == 1
            line += (f" {report.looks_finished} of them {'is' if few else 'are'} complete and nothing writes "
                     f"{'it' if few else 'them'}: {'it looks' if few else 'they look'} like a finished copy "
                     "(safety.finished_copies = 'organize' takes such files at once).")
        out.print(f"[yellow]{line}[/]")
    partial = len(report.downloading) - report.recent
    if partial:
        out.print(f"[yellow]{plural(partial, 'unfinished download')} (.part, .crdownload and the like) "
                  f"{'was' if partial == 1 else 'were'} left alone; -v lists them.[/]")


def _print_new(out, report: RunReport, verbose: bool) -> None:
    shown_new = report.new if report.mode == "assign" or verbose else ()   # a first run: the table says it
    for item in shown_new[:50]:
        dist = f" (distance {item.distance:.3f})" if item.distance is not None else ""
        out.print(f"New: {_m(item.path)} -> {_m(item.cluster)}{dist}")
    if len(shown_new) > 50:
        out.print(f"... and {len(shown_new) - 50} more new videos (see the manifest or --json)")


def print_runs(runs) -> None:
    """`organize runs`: a header row and aligned columns."""
    rows = [("run", "kind", "created", "moved", "undone", "status")]
    for r in runs:
        kind = f"undo of {r.undo_of}" if r.undo_of else r.kind
        rows.append((r.id, kind, r.created, str(r.moved), str(r.undone) if r.kind == "apply" else "", r.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def print_moves(report: MoveReport, verb: str) -> None:
    """The human summary of `organize apply` and `organize undo`."""
    for item in report.skipped:
        click.echo(f"Skipped: {shown(item.path)}: {shown(item.reason)}")
    for item in report.errors:
        click.echo(f"Failed: {shown(item.path)}: {shown(item.reason)}")
    if report.note:
        click.echo(shown(report.note))
        if not (report.moved or report.skipped or report.errors):
            return
    click.echo(f"{verb} {plural(report.moved, 'file')}; {len(report.skipped)} skipped; {len(report.errors)} failed"
               + (f"; {report.recovered} interrupted operation(s) recovered" if report.recovered else "")
               + (f" (run {report.run}" + (f"; this undo is run {report.journal}" if report.journal else "") + ")"
                  if report.run else "") + ".")


def furniture_line(pictures: list[dict]) -> str:
    """One sentence on the library furniture found (pictures that recur in unrelated videos)."""
    counts = ", ".join(str(p["videos"]) for p in pictures)
    return (f"Library furniture: {plural(len(pictures), 'picture')} recur in unrelated videos (in {counts} videos; an "
            f"intro, an end card, a title card): not counted for grouping, e.g. in {_m(pictures[0]['example'])}.")
