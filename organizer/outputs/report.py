"""The HTML report: one self-contained page (images as data URIs) for deciding whether to apply a plan.

It shows how the number of clusters was chosen, each cluster with its videos' keyframes, each video's distance to
its cluster's centre (far-off ones flagged), clusters of a single video flagged, a link that opens each video, the
skipped files with their reasons, the model actually used, and the exact command that applies the plan.
"""

from __future__ import annotations

import html
import os
import shlex
from pathlib import Path

from organizer.analysis.images import data_uri
from organizer.types import best_copy
from organizer.summary import clusters_line
from organizer.types import UNSORTED
from organizer.outputs.files import REPORT_MARK, write_output
from organizer.pipeline import Planned

CSS = """
body{font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;background:#f6f6f4;color:#222}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:.3em 0}
.meta{color:#555;font-size:.9em;word-break:break-all}
.cluster{background:#fff;border-radius:8px;padding:10px;margin:12px 0;box-shadow:0 1px 3px #0002}
.videos{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px}
.video{border:1px solid #ddd;border-radius:6px;padding:6px;overflow:hidden}.far{border-color:#d33;background:#fff4f4}
.strip{display:flex;gap:3px;overflow-x:auto}.strip img{height:72px;border-radius:3px;flex:none}
.name{font-weight:600;word-break:break-all;margin:.3em 0 0}.dst{color:#555;font-size:.85em;word-break:break-all}
.flag{color:#b00;font-weight:600}code{background:#eee;padding:2px 4px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
li{word-break:break-all}img.furniture{opacity:.45;outline:2px dashed #999}figure{margin:0 6px 0 0}
figcaption{font-size:.8em;color:#555;max-width:160px;word-break:break-all}
.same{margin-top:8px;padding:6px;border:1px dashed #99a;border-radius:6px}.same li.best{font-weight:600}
"""


def _e(text: object) -> str:
    return html.escape(os.fsencode(str(text)).decode("utf-8", "replace"), quote=True)


def _strip(a) -> str:
    """The keyframes, the video's own first: a furniture picture (an intro other videos share) is never the
    picture that stands for the video, and is marked as such."""
    shots = list(zip(range(len(a.thumbnails)), a.keyframes.times, a.thumbnails))
    shots.sort(key=lambda s: s[0] in a.furniture)
    return "".join(f"<img class=furniture alt='library furniture at {t:.1f}s (not counted for grouping)' "
                   f"src='{data_uri(th)}'>" if i in a.furniture else
                   f"<img alt='keyframe at {t:.1f}s' src='{data_uri(th)}'>" for i, t, th in shots)


def _furniture(planned: Planned) -> list[str]:
    """The furniture pictures: one example of each, and in how many videos it recurs."""
    pictures = planned.furniture.shown({r.fingerprint: r.video.rel for r in planned.results})
    if not pictures:
        return []
    by_rel = {r.video.rel: r.analysis for r in planned.results}
    out = ["<section class=cluster id=furniture><h2>Library furniture</h2><p>These pictures recur in videos that "
           "are otherwise unrelated (an intro, an end card, a title card); grouping leaves them out.</p>"
           "<div class=strip>"]
    for p in pictures:
        thumbs = by_rel[p["example"]].thumbnails
        img = f"<img alt='furniture in {p['videos']} videos' src='{data_uri(thumbs[p['keyframe']])}'>" if p[
            "keyframe"] < len(thumbs) else ""
        out.append(f"<figure>{img}<figcaption>in {p['videos']} videos, e.g. {_e(p['example'])}</figcaption>"
                   "</figure>")
    out.append("</div></section>")
    return out


def _copies(members: list, planned: Planned) -> str:
    """The groups of copies whose best copy is in this cluster, side by side: duration, picture size, file size,
    where each goes; the best copy (the largest picture, then the largest file) marked."""
    by_rel = {r.video.rel: r for r in planned.results}
    here = {r.video.rel for r in members}
    out = []
    for group in planned.plan.same_video:
        group = [rel for rel in group if rel in by_rel]
        if len(group) < 2:
            continue
        best = best_copy(group, by_rel)
        if best not in here:
            continue
        cells = []
        for rel in group:
            r = by_rel[rel]
            size = f"{r.analysis.width}x{r.analysis.height}" if r.analysis.width else "size unknown"
            cells.append(f"<li{' class=best' if rel == best else ''}>{_e(rel)}: {r.analysis.duration:.1f} s, {size}, "
                         f"{r.video.size / 1e6:.1f} MB{' (best copy)' if rel == best else ''} &rarr; "
                         f"{_e(planned.placement.assigned.get(rel, ''))}</li>")
        out.append(f"<div class=same><b>Same video ({len(group)} files)</b><ul>{''.join(cells)}</ul></div>")
    return "".join(out)


def _video(r, planned: Planned, dist: float | None, far: float, dst_of: dict) -> str:
    a = r.analysis
    dst = dst_of.get(r.video.rel)
    where = f"&rarr; {_e(dst)}" if dst else "already in place"
    strip = _strip(a)
    waiting = planned.placement.assigned.get(r.video.rel) == UNSORTED
    off = dist is not None and dist > far
    what = "distance to the nearest cluster" if waiting else "distance"
    note = "" if dist is None else f" &middot; <span class={'flag' if off else 'd'}>{what} {dist:.2f}" + (
        "" if not off else " (over the limit: it waits)" if waiting else " (far from its cluster's centre)") + "</span>"
    link = Path(planned.plan.root, r.video.rel).as_uri()
    return (f"<article class='video{' far' if off else ''}'><div class=strip>{strip}</div>"
            f"<p class=name><a href='{_e(link)}'>{_e(r.video.rel)}</a></p>"
            f"<p class=dst>{a.duration:.1f} s &middot; {len(a.keyframes.indices)} keyframe"
            f"{'s' if len(a.keyframes.indices) != 1 else ''}{note} &middot; {where}</p></article>")


def render_html(planned: Planned, dry_run: bool = True, manifest: str | None = None) -> str:
    """The report as a string. Everything taken from file names or settings is escaped."""
    plan, results, placement = planned.plan, planned.results, planned.placement
    names = sorted(set(placement.assigned.values()), key=lambda n: (n == UNSORTED, n))      # _unsorted last
    dst_of = {m.src: m.dst for m in plan.moves}
    far = plan.max_distance
    dist = placement.distances          # the one definition (placement.centre_distances), as in the manifest
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>", REPORT_MARK.decode(),
           "<meta name=viewport content='width=device-width,initial-scale=1'>",
           f"<title>organize: {_e(plan.root)}</title><style>{CSS}</style></head><body>",
           f"<h1>{'Planned' if dry_run else 'Applied'}: "
           f"{_e(clusters_line(len(results), [(c.name, c.size) for c in plan.clusters]))}</h1>",
           f"<p class=meta>Library {_e(plan.root)} &rarr; {_e(plan.dest)} &middot; {_e(plan.created)} &middot; "
           f"{len(plan.moves)} moves, {plan.in_place} already in place, {len(plan.skipped)} skipped, "
           f"{len(plan.downloading)} still downloading</p>"]
    if placement.k_choice:
        out.append(f"<p id=k>Number of clusters: {_e(placement.k_choice)}.</p>")
    if plan.threshold.get("why"):
        out.append(f"<p id=threshold>Close enough to belong: {_e(plan.threshold['why'])}.</p>")
    said = planned.notes + placement.warnings + placement.advice
    if said:
        out.append("<section id=warnings><h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in said)
                   + "</ul></section>")
    out += _furniture(planned)
    if dry_run and manifest and plan.moves:
        out.append(f"<p id=apply>To apply this plan: <code>organize apply {_e(shlex.quote(manifest))}</code></p>")
    for name in names:
        members = [r for r in results if placement.assigned[r.video.rel] == name]
        alone = len(members) == 1 and len(results) > 1 and name != UNSORTED       # a cluster of one: flagged
        out.append(f"<section class=cluster data-cluster='{_e(name)}'><h2>{_e(name)} "
                   f"<small{' class=flag' if alone else ''}>({len(members)} video{'s' if len(members) != 1 else ''})"
                   "</small></h2><div class=videos>")
        out += [_video(r, planned, dist.get(r.video.rel), far, dst_of) for r in members]
        out.append("</div>" + _copies(members, planned) + "</section>")
    out += _lists(planned)
    return "\n".join(out)


def _lists(planned: Planned) -> list[str]:
    plan = planned.plan
    out = []
    for title, items, ident in (("Skipped", plan.skipped, "skipped"),
                                ("Still downloading", plan.downloading, "downloading")):
        out.append(f"<section class=cluster id={ident}><h2>{title} ({len(items)})</h2><ul>")
        out += [f"<li><b>{_e(f.path)}</b>: {_e(f.reason)}</li>" for f in items]
        out.append("</ul></section>")
    model = f"{planned.spec.describe()} (computed by {planned.backend})"
    out.append(f"<section class=cluster id=settings><h2>Settings</h2><table><tr><th>model</th><td>{_e(model)}</td>"
               "</tr>")
    out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in plan.settings.items()
            if not (k in ("features.weights", "features.backend", "features.precision") and planned.spec.family
                    == "tflite")]
    out.append("</table></section></body></html>")
    return out


def write_html_report(path: Path, planned: Planned, dry_run: bool = True, manifest: str | None = None) -> Path:
    """Write the report: a new file, or a report of ours replaced; never anything else."""
    return write_output(path, render_html(planned, dry_run, manifest).encode("utf-8"), "report", "--report")
