"""A person's edits to a plan (from `organize review`): clusters renamed or merged, videos moved to another cluster
or excluded. The edited plan is a new plan (a new id); the plan it came from is never changed.

Pure: the folders that already exist in dest come in as a function, as in the planner.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable

from organizer.clock import now_iso
from organizer.errors import ManifestError
from organizer.layout import unique_name
from organizer.moves.plan import (REPOSTS, ClusterInfo, Decision, Move, Plan, check_cluster_name, check_move,
                                  new_plan_id)
from organizer.types import UNSORTED


@dataclass(frozen=True)
class Edits:
    """targets: a move's src -> the cluster (by its name in the plan) it goes to instead, or None to exclude it;
    names: a cluster's name in the plan -> the name the person gave it. A merge is every video of one cluster
    sent to another."""

    targets: dict[str, str | None] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def _listdir(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def check_edits(plan: Plan, edits: Edits, exists: Callable[[str], bool]) -> dict[str, str]:
    """Every edit names a video and a cluster of this plan, and every new name is a usable folder name. Returns
    the final folder name of each cluster. A cluster whose folder already exists keeps its name (renaming it
    would leave the files already in it behind); so does _unsorted."""
    clusters = {c.name for c in plan.clusters} | {m.cluster for m in plan.moves} | {UNSORTED}
    srcs = {m.src for m in plan.moves}
    unknown = sorted(set(edits.targets) - srcs)
    if unknown:
        raise ManifestError(f"{unknown[0]!r} is not a video this plan moves; reload the page.")
    bad = sorted(t for t in edits.targets.values() if t is not None and t not in clusters)
    bad += sorted(set(edits.names) - clusters)
    if bad:
        raise ManifestError(f"There is no cluster {bad[0]!r} in this plan; reload the page.")
    final = {}
    for name in clusters:
        new = check_cluster_name(edits.names.get(name, name))
        if new != name and (name == UNSORTED or exists(name)):
            raise ManifestError(f"The cluster {name!r} is a folder that exists already and keeps its name; rename "
                                "the folder itself if you want another name.")
        final[name] = new
    return final


def edited_plan(plan: Plan, edits: Edits, listdir: Callable[[Path], set[str]] = _listdir) -> Plan:
    """The plan with the edits made, as a new plan (new id) whose moves, clusters and decisions follow them.

    Raises ManifestError with a sentence when an edit names something the plan does not hold or a bad name."""
    dest = Path(plan.dest)
    final = check_edits(plan, edits, lambda name: (dest / name).is_dir())
    moved = {m.cluster: 0 for m in plan.moves}
    for m in plan.moves:
        moved[m.cluster] += 1
    sizes = {final[c.name]: c.size - moved.get(c.name, 0) for c in plan.clusters}     # the files already in place
    decisions, placed = [], []
    for m in plan.moves:
        target = edits.targets.get(m.src, m.cluster)
        if target is None:
            decisions.append(Decision(m.fingerprint, m.src, "exclude"))
            continue
        if target != m.cluster:
            decisions.append(Decision(m.fingerprint, m.src, "cluster", final[target]))
        placed.append((final[target], m))
    taken: dict[str, set[str]] = {}
    moves = []
    for folder, m in sorted(placed, key=lambda p: (p[0], p[1].src)):     # the planner's order
        where = f"{folder}/{REPOSTS}" if len(PurePosixPath(m.dst).parts) == 3 else folder   # a copy set aside
        names = taken.setdefault(where, listdir(dest / where))
        name = unique_name(PurePosixPath(m.src).name, names)
        names.add(name)
        check_move(m.src, f"{where}/{name}")
        distance = m.distance if folder == final.get(m.cluster) else None
        moves.append(replace(m, dst=f"{where}/{name}", cluster=folder, distance=distance))
        sizes[folder] = sizes.get(folder, 0) + 1
    clusters = [ClusterInfo(name, size) for name, size in sorted(sizes.items()) if size > 0]
    return replace(plan, moves=moves, clusters=clusters, decisions=_earlier(plan, placed, decisions) + decisions,
                   created=now_iso(), id=new_plan_id())


def _earlier(plan: Plan, placed: list[tuple[str, Move]], now: list[Decision]) -> list[Decision]:
    """A plan reviewed twice keeps the first round's decisions that this round did not replace, each following
    its video to the folder it goes to now."""
    folder_of = {m.src: folder for folder, m in placed}
    decided = {d.src for d in now}
    return [d if d.kind == "exclude" else replace(d, cluster=folder_of[d.src]) for d in plan.decisions
            if d.src not in decided and (d.kind == "exclude" or d.src in folder_of)]
