"""The HTML report: one self-contained page (images as data URIs) to look at before approving a plan."""

from __future__ import annotations

import html
import os
from pathlib import Path

from .images import data_uri
from .outputs import REPORT_MARK, write_output
from .pipeline import Planned

CSS = """
body{font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;background:#f6f6f4;color:#222}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:.3em 0}
.meta{color:#555;font-size:.9em;word-break:break-all}
.cluster{background:#fff;border-radius:8px;padding:10px;margin:12px 0;box-shadow:0 1px 3px #0002}
.videos{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px}
.video{border:1px solid #ddd;border-radius:6px;padding:6px;overflow:hidden}
.strip{display:flex;gap:3px;overflow-x:auto}.strip img{height:72px;border-radius:3px;flex:none}
.name{font-weight:600;word-break:break-all;margin:.3em 0 0}.dst{color:#555;font-size:.85em;word-break:break-all}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
li{word-break:break-all}
"""


def _e(text: object) -> str:
    return html.escape(os.fsencode(str(text)).decode("utf-8", "replace"), quote=True)


def render_html(planned: Planned, dry_run: bool = True) -> str:
    """The report as a string: clusters with contact sheets, skipped files, settings. Everything is escaped."""
    plan, results = planned.plan, planned.results
    names = sorted(set(planned.placement.assigned.values()))
    dst_of = {m.src: m.dst for m in plan.moves}
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>", REPORT_MARK.decode(),
           "<meta name=viewport content='width=device-width,initial-scale=1'>",
           f"<title>organize: {_e(plan.root)}</title><style>{CSS}</style></head><body>",
           f"<h1>{'Planned' if dry_run else 'Applied'}: {len(results)} videos in {len(names)} clusters</h1>",
           f"<p class=meta>Library {_e(plan.root)} &rarr; {_e(plan.dest)} &middot; {_e(plan.created)} &middot; "
           f"{len(plan.moves)} moves, {plan.in_place} already in place, {len(plan.skipped)} skipped, "
           f"{len(plan.downloading)} still downloading</p>"]
    for name in names:
        members = [r for r in results if planned.placement.assigned[r.video.rel] == name]
        out.append(f"<section class=cluster data-cluster='{_e(name)}'><h2>{_e(name)} "
                   f"<small>({len(members)} videos)</small></h2><div class=videos>")
        for r in members:
            dst = dst_of.get(r.video.rel)
            where = f"&rarr; {_e(dst)}" if dst else "already in place"
            a = r.analysis
            strip = "".join(f"<img alt='keyframe at {t:.1f}s' src='{data_uri(th)}'>"
                            for t, th in zip(a.keyframes.times, a.thumbnails))
            out.append(f"<article class=video><div class=strip>{strip}</div><p class=name>{_e(r.video.rel)}</p>"
                       f"<p class=dst>{a.duration:.1f} s &middot; {len(a.keyframes.indices)} keyframes "
                       f"&middot; {where}</p></article>")
        out.append("</div></section>")
    for title, items, ident in (("Skipped", plan.skipped, "skipped"), ("Still downloading", plan.downloading,
                                                                          "downloading")):
        out.append(f"<section class=cluster id={ident}><h2>{title} ({len(items)})</h2><ul>")
        out += [f"<li><b>{_e(f.path)}</b>: {_e(f.reason)}</li>" for f in items]
        out.append("</ul></section>")
    out.append("<section class=cluster id=settings><h2>Settings</h2><table>")
    out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in plan.settings.items()]
    out.append("</table></section></body></html>")
    return "\n".join(out)


def write_html_report(path: Path, planned: Planned, dry_run: bool = True) -> Path:
    """Write the report: a new file, or a report of ours replaced; never anything else."""
    return write_output(path, render_html(planned, dry_run).encode("utf-8"), "report", "--report")
    return path
