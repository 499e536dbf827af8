"""The review page: today's report made editable. Plain HTML drawn here (every name escaped), a style sheet and a
small script (static files next to this module). Videos and clusters are named in the page by their number in the
plan; the script sends numbers back, never paths.

Accessible names (a screen reader, and the browser tests, find things by them): each cluster is a region whose
heading is its name, with a text field "Cluster name", a select "Merge into" and a button "Merge"; each video is
an article named by its file, with a select "Move to" and a checkbox "Exclude"; the buttons "Save plan" and
"Apply plan"; a status region says what happened.
"""

from __future__ import annotations

import html
import os
from importlib import resources

from organizer.review.session import ReviewSession, Shown
from organizer.summary import clusters_line
from organizer.types import UNSORTED


def asset(name: str) -> bytes:
    """The page's style sheet or script."""
    return resources.files("organizer.review").joinpath(name).read_bytes()


def _e(text: object) -> str:
    return html.escape(os.fsencode(str(text)).decode("utf-8", "replace"), quote=True)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _video(i: int, v: Shown, plan_id: str, home: int, options: str, far: float) -> str:
    strip = "".join(f"<img loading=lazy alt='keyframe at {t:.1f} s' src='thumb/{_e(plan_id)}/{i}/{k}.jpg'>"
                    for k, t in enumerate(v.times[:len(v.thumbs)]))
    facts = [f"{v.duration:.1f} s" if v.duration is not None else "", _size(v.size)]
    if v.distance is not None:
        facts.append(f"distance {v.distance:.2f}" + (" (far from its cluster's centre)" if v.distance > far else ""))
    return (f"<article class=video data-video={i} data-home={home} aria-label='{_e(v.src)}'><div class=strip>{strip}</div>"
            f"<p class=name>{_e(v.src)}</p><p class=facts>{_e(' · '.join(f for f in facts if f))}</p>"
            f"<label>Move to <select class=move-to>{options}</select></label> "
            f"<label><input type=checkbox class=exclude> Exclude</label></article>")


def _cluster(n: int, name: str, members: list[str], options: str, fixed: bool) -> str:
    count = len(members)
    rename = (f"<label>Cluster name <input class=cluster-name value='{_e(name)}'"
              + (" readonly title='This folder exists already; rename it in your file manager.'" if fixed else "")
              + "></label>")
    merge = ("" if name == UNSORTED else f"<label>Merge into <select class=merge-into><option value=''>choose a "
             f"cluster</option>{options}</select></label> <button type=button class=merge>Merge</button>")
    return (f"<section class=cluster data-cluster={n} aria-labelledby=c{n}><h2 id=c{n}>{_e(name)}</h2>"
            f"<p class=count>{count} video{'s' if count != 1 else ''}</p><div class=tools>{rename} {merge}</div>"
            f"<div class=videos>{''.join(members)}</div></section>")


def render(session: ReviewSession) -> str:
    """The page for the session's current plan."""
    plan = session.current
    shown = session.shown[plan.id]
    names = session.clusters(plan)
    number = {name: n for n, name in enumerate(names)}
    far = plan.max_distance
    options = "".join(f"<option value={n}>{_e(name)}</option>" for n, name in enumerate(names))
    members: dict[int, list[str]] = {n: [] for n in range(len(names))}
    for i, v in enumerate(shown):        # each select holds its own cluster; the script adds the others
        here = f"<option value={number[v.cluster]} selected>{_e(v.cluster)}</option>"
        members[number[v.cluster]].append(_video(i, v, plan.id, number[v.cluster], here, far))
    excluded = [d.src for d in plan.decisions if d.kind == "exclude"]
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           "<meta name=viewport content='width=device-width,initial-scale=1'>",
           f"<title>organize review: {_e(plan.root)}</title><link rel=stylesheet href=style.css><link rel=icon href=favicon.ico>",
           "<script src=app.js defer></script></head>",
           f"<body data-plan='{_e(plan.id)}'><header><h1>Review: {_e(clusters_line(len(shown), [(c.name, c.size) for c in plan.clusters]))}</h1>",
           f"<p class=meta>Plan {_e(session.manifest)} &middot; library {_e(plan.root)} &rarr; {_e(plan.dest)} &middot; "
           f"{len(plan.moves)} moves, {plan.in_place} already in place</p>",
           "<div class=actions><button type=button id=save>Save plan</button> "
           "<button type=button id=apply>Apply plan</button></div>",
           "<p id=status role=status aria-live=polite></p></header><main>"]
    if plan.warnings:
        out.append("<section id=warnings aria-labelledby=warnings-h><h2 id=warnings-h>Warnings</h2><ul>"
                   + "".join(f"<li>{_e(w)}</li>" for w in plan.warnings) + "</ul></section>")
    if excluded:
        out.append("<section id=excluded aria-labelledby=excluded-h><h2 id=excluded-h>Left where they are</h2><ul>"
                   + "".join(f"<li>{_e(src)}</li>" for src in excluded) + "</ul></section>")
    out.append(f"<template id=choices>{options}</template>")
    out += [_cluster(n, name, members[n], options.replace(f"<option value={n}>", f"<option value={n} disabled>"),
                     session.existing(name)) for n, name in enumerate(names)]
    out.append("</main></body></html>")
    return "\n".join(out)
