"""What the whole library knows (issue 25): library furniture (furniture.py) and copies of one video (reposts.py),
from the keyframes analysis stored, never from the videos again. Pure: the caller hands in a loader for the stored
keyframes and stores what comes back; the choices about copies (--reposts) are made here too.

Incremental: a run with no new analysis keeps what the last one found (the caller reads nothing). A run with new
videos compares up to SAMPLE videos (all of them in a smaller library; otherwise the new ones and a random sample
of the rest), matches their keyframes with the furniture known from before, and adds the copies it finds to the
groups known from before; once groups are known, only pairs with a new video are judged (and only their timelines
read), as the others were on the night they came.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from organizer.grouping import furniture as fu
from organizer.grouping import reposts as rp
from organizer.types import Furniture, VideoResult, best_copy

SAMPLE = 20_000      # videos whose keyframes one run compares (about 120,000 keyframes; bench_library_scale.py)
RULES = 5            # the round of the rules for furniture and copies (issue 25): what a run stored under another round
                     # is found again (an upgrade must not keep the groups that older rules got wrong)


@dataclass(frozen=True)
class Found:
    """The results with their furniture marks and grouping vectors, the pictures, the groups of one video (by
    fingerprint), and what changed for the store: fingerprint -> (marks, grouping vector)."""

    results: tuple[VideoResult, ...]
    furniture: Furniture
    same: list[list[str]]
    changes: dict = field(default_factory=dict)


def look(results: tuple[VideoResult, ...], load: Callable[[list[str]], dict], known: Furniture,
         known_same: list[list[str]], seed: int = 0, timelines: Callable[[list[str]], dict] | None = None,
         looked: bool = False) -> Found:
    """Furniture and copies among these results. `load(fingerprints)` gives fingerprint -> (keyframe features,
    looks or None) for the analyses that have them; `timelines(fingerprints)` their timelines, asked only for
    candidate copies (reposts.groups). `looked`: an earlier run looked for copies (`known_same` is what it found),
    so only pairs with a new video are judged."""
    fresh = {r.fingerprint for r in results if not r.cached}
    by_fp = {r.fingerprint: r.analysis for r in results}
    data = load(fu.sample(list(by_fp), fresh, SAMPLE, seed))
    features = {fp: rows for fp, (rows, _) in data.items()}
    pictures, changes = fu.refresh(features, {fp: by_fp[fp].keyframe_weights for fp in data},
                                   {fp: by_fp[fp].furniture for fp in data}, known, seed)
    marks = {fp: changes[fp][0] if fp in changes else by_fp[fp].furniture for fp in data}
    found = rp.groups({fp: {"features": rows, "looks": looks, "times": by_fp[fp].keyframes.times,
                            "duration": by_fp[fp].duration, "furniture": marks[fp]}
                       for fp, (rows, looks) in data.items()}, seed, timelines, fresh if looked else None)
    results = tuple(replace(r, analysis=replace(r.analysis, furniture=changes[r.fingerprint][0],
                                                grouping=changes[r.fingerprint][1]))
                    if r.fingerprint in changes else r for r in results)
    return Found(results, pictures, merged(known_same, found, set(by_fp)), changes)


def merged(old: list[list[str]], new: list[list[str]], present: set[str]) -> list[list[str]]:
    """The union of two sets of groups (a video in both joins them), keeping only the videos present."""
    groups = [[v for v in group if v in present] for group in old + new]
    ids = sorted({v for group in groups for v in group})
    index = {v: i for i, v in enumerate(ids)}
    union = fu.Union(len(ids))
    for group in groups:
        for v in group[1:]:
            union.join(index[group[0]], index[v])
    out: dict[int, list[str]] = {}
    for v in ids:
        out.setdefault(union.find(index[v]), []).append(v)
    return sorted((sorted(g) for g in out.values() if len(g) > 1), key=lambda g: g[0])


def same_files(same: list[list[str]], results: tuple[VideoResult, ...]) -> list[list[str]]:
    """Groups of files (rels) that are one video: the groups of analyses, each with every file of its content, and
    byte-identical files (one content, several files)."""
    rels: dict[str, list[str]] = {}
    for r in results:
        rels.setdefault(r.fingerprint, []).append(r.video.rel)
    grouped = {fp for g in same for fp in g}
    out = [sorted(rel for fp in g for rel in rels.get(fp, [])) for g in same]
    out += [sorted(files) for fp, files in rels.items() if len(files) > 1 and fp not in grouped]
    return sorted((g for g in out if len(g) > 1), key=lambda g: g[0])


def gathered(assigned: dict[str, str], stay: frozenset[str], groups: list[list[str]],
             results: dict[str, VideoResult], mode: str) -> tuple[dict[str, str], set[str]]:
    """--reposts together or aside: every copy goes to the cluster of the best one (a file that stays where it is,
    in a cluster folder, stays); with aside, all but the best go to that cluster's _reposts folder. Returns the
    new assignment and the files set aside."""
    if mode == "keep":
        return assigned, set()
    assigned, aside = dict(assigned), set()
    for group in groups:
        group = [rel for rel in group if rel in assigned and rel in results]
        if len(group) < 2:
            continue
        best = best_copy(group, results)
        for rel in group:
            if rel != best and rel not in stay:
                assigned[rel] = assigned[best]
                if mode == "aside":
                    aside.add(rel)
    return assigned, aside

