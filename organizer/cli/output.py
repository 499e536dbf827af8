"""Everything the terminal shows: a progress bar, the summaries, and one function through which every file name
passes (control characters made visible, so a hostile name cannot drive the terminal)."""

from __future__ import annotations

import sys
import unicodedata

import click

from ..summary import MoveReport, RunReport

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
    """A transient progress bar with ETA on the terminal."""

    def __init__(self, label: str):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                           TextColumn("{task.fields[current]}"), console=console(), transient=True)
        self._label = label
        self._task = None

    def start(self, total: int) -> None:
        self._p.start()
        self._task = self._p.add_task(self._label, total=total, current="")

    def advance(self, label: str) -> None:
        self._p.update(self._task, advance=1, current=_m(label[-40:]))

    def finish(self) -> None:
        self._p.stop()


def progress_bar(quiet: bool, as_json: bool, label: str):
    if quiet or as_json or not sys.stdout.isatty():
        return None
    return RichProgress(label)


def print_run(report: RunReport, verbose: bool) -> None:
    """The human summary of `organize PATH`."""
    from rich.table import Table

    out = console()
    table = Table(title=f"{report.videos} videos in {len(report.clusters)} clusters")
    for col, justify in (("cluster", "left"), ("videos", "right"), ("to move", "right")):
        table.add_column(col, justify=justify)
    for c in report.clusters:
        table.add_row(_m(c.name), str(c.size), str(c.to_move))
    out.print(table)
    if verbose:
        detail = Table(title="videos")
        for col in ("video", "cluster", "duration", "frames", "keyframes"):
            detail.add_column(col)
        for v in report.video_lines:
            detail.add_row(_m(v.path), _m(v.cluster), f"{v.duration:.1f}s", str(v.frames), str(v.keyframes))
        out.print(detail)
    for items, title in ((report.skipped, "Skipped"), (report.downloading, "Still downloading"),
                         (report.errors, "Failed")):
        for item in items:
            out.print(f"[yellow]{title}:[/] {_m(item.path)}: {_m(item.reason)}")
    _print_new(out, report, verbose)
    if report.mode == "recluster":
        out.print(f"Reclustering moves {report.planned} of {report.videos} videos; matched clusters keep their "
                  "folder names.")
    if report.frames or report.cached:
        out.print(f"Analysed {report.frames} frame(s) of new or changed videos ({report.frames_reused} reused the "
                  f"features of a near-identical frame); {report.cached} video(s) came from the cache.")
    verb, count = ("Planned", report.planned) if report.dry_run else ("Moved", report.moved)
    out.print(f"{verb} {count} move(s); {report.in_place} already in place; {len(report.skipped)} skipped; "
              f"{len(report.downloading)} still downloading. Manifest: {_m(report.manifest)}")
    if report.report:
        out.print(f"Report: {_m(report.report)}")
    if report.dry_run:
        out.print(f"Nothing was changed. To apply this plan: organize apply {_m(report.manifest)}")


def _print_new(out, report: RunReport, verbose: bool) -> None:
    shown_new = report.new if report.mode == "assign" or verbose else ()   # a first run: the table says it
    for item in shown_new[:50]:
        dist = f" (distance {item.distance:.3f})" if item.distance is not None else ""
        out.print(f"New: {_m(item.path)} -> {_m(item.cluster)}{dist}")
    if len(shown_new) > 50:
        out.print(f"... and {len(shown_new) - 50} more new videos (see the manifest or --json)")


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
    click.echo(f"{verb} {report.moved} file(s); {len(report.skipped)} skipped; {len(report.errors)} failed"
               + (f"; {report.recovered} interrupted operation(s) recovered" if report.recovered else "")
               + (f" (run {report.run})" if report.run else "") + ".")
