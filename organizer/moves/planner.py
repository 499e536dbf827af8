"""Pure planning: cluster assignments + library -> a plan of moves. The dry-run manifest is this plan as JSON."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from organizer.clock import now_iso
from organizer.layout import unique_name
from organizer.moves.plan import REPOSTS, ClusterInfo, Move, Plan
from organizer.types import Failure, VideoFile

def _listdir(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def build_plan(root: Path, dest: Path, assignment: list[tuple[VideoFile, str]], settings: dict,
               skipped: Iterable[Failure] = (), downloading: Iterable[Failure] = (),
               listdir: Callable[[Path], set[str]] = _listdir, now: datetime | None = None,
               stay: set[str] = frozenset(), distances: dict[str, float] | None = None, mode: str = "cluster",
               fingerprints: dict[str, str] | None = None, threshold: dict | None = None,
               aside: set[str] = frozenset(), same_video: list[list[str]] | None = None) -> Plan:
    """Place each video at DEST/<cluster>/<name>; a file already in its cluster folder stays (runs twice safely).

    Videos whose rel is in `stay` are counted in their cluster and never moved (hand-placed files). `threshold`:
    the max_distance the placement used and how it was chosen (Threshold.as_dict()), recorded in the manifest.
    Videos whose rel is in `aside` go to DEST/<cluster>/_reposts/ (copies of another video, --reposts aside); a
    video already in its cluster's _reposts folder stays there. `same_video`: groups of rels, recorded as they are.
    """
    distances = distances or {}
    root, dest = Path(os.path.abspath(root)), Path(os.path.abspath(dest))
    taken: dict[str, set[str]] = {}
    moves: list[Move] = []
    sizes: dict[str, int] = {}
    in_place = 0
    for video, cluster in sorted(assignment, key=lambda a: (a[1], a[0].rel)):
        sizes[cluster] = sizes.get(cluster, 0) + 1
        folder = dest / cluster / REPOSTS if video.rel in aside else dest / cluster
        parent = Path(os.path.abspath(video.path)).parent
        if video.rel in stay or video.path.parent == folder or parent in (folder, dest / cluster / REPOSTS):
            in_place += 1
            continue
        where = f"{cluster}/{REPOSTS}" if video.rel in aside else cluster
        names = taken.setdefault(where, listdir(folder))
        name = unique_name(video.path.name, names)
        names.add(name)
        moves.append(Move(video.rel, f"{where}/{name}", cluster, video.size, video.mtime_ns, video.ino,
                          distances.get(video.rel), (fingerprints or {}).get(video.rel, "")))
    created = now.isoformat(timespec="seconds") if now else now_iso()
    clusters = [ClusterInfo(name, size) for name, size in sorted(sizes.items())]
    return Plan(str(root), str(dest), created, settings, clusters, moves,
                list(skipped), list(downloading), in_place, mode, threshold=dict(threshold or {}),
                same_video=[list(g) for g in same_video or []])
