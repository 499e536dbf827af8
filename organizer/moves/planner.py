"""Pure planning: cluster assignments + library -> a plan of moves. The dry-run manifest is this plan as JSON."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from organizer.clock import now_iso
from organizer.errors import ManifestError
from organizer.layout import STATE_DIR
from organizer.moves.manifest import MANIFEST_VERSION, check_relative, parse_plan
from organizer.types import Failure, VideoFile

NAME_MAX = 255


@dataclass(frozen=True)
class Move:
    src: str          # relative to root
    dst: str          # relative to dest
    cluster: str
    size: int
    mtime_ns: int
    ino: int = 0
    distance: float | None = None    # a new video's distance to its cluster's centroid (None: clustered afresh)
    fingerprint: str = ""            # the content's identity (remembered when the move cannot be made)


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    size: int


@dataclass
class Plan:
    root: str
    dest: str
    created: str
    settings: dict
    clusters: list[ClusterInfo]
    moves: list[Move]
    skipped: list[Failure] = field(default_factory=list)
    downloading: list[Failure] = field(default_factory=list)
    in_place: int = 0
    mode: str = "cluster"      # cluster (first run), recluster, or assign (new videos to existing clusters)
    id: str = field(default_factory=lambda: secrets.token_hex(8))    # every apply of this plan shares it
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        data = {
            "version": self.version, "id": self.id, "root": self.root, "dest": self.dest, "created": self.created,
            "settings": self.settings,
            "clusters": [asdict(c) for c in self.clusters],
            "moves": [asdict(m) for m in self.moves],
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
            "downloading": [{"path": f.path, "reason": f.reason} for f in self.downloading],
            "in_place": self.in_place,
            "mode": self.mode,
        }
        # ensure_ascii keeps non-UTF-8 names (surrogate escapes) round-tripping exactly.
        return json.dumps(data, indent=2, ensure_ascii=True) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str = "manifest") -> "Plan":
        """A plan from a manifest's text, every value checked (manifests are user-editable)."""
        return parse_plan(text, origin)

    def digest(self) -> str:
        """What the plan does (its folders and moves), as a short hash: two manifests that share an id but move
        different files are two plans."""
        text = json.dumps([self.root, self.dest, [asdict(m) for m in self.moves]], ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]

    def validate(self) -> None:
        """Reject plans that could touch files outside root, write outside dest, or touch organize's own files."""
        if not os.path.isabs(self.root) or not os.path.isabs(self.dest):
            raise ManifestError("The manifest's root and dest must be absolute paths.")
        state = os.path.join(os.path.abspath(self.root), STATE_DIR)
        if os.path.abspath(self.dest) == state or os.path.abspath(self.dest).startswith(state + os.sep):
            raise ManifestError(f"The manifest's dest lies inside {state}, organize's own folder; choose another.")
        for m in self.moves:
            for label, rel in (("src", m.src), ("dst", m.dst)):
                check_relative(rel, f"move {label} {rel!r}")
            if len(PurePosixPath(m.dst).parts) != 2:
                raise ManifestError(f"move dst {m.dst!r} must be '<cluster folder>/<file name>'.")


def fit_name(stem: str, suffix: str, max_bytes: int = NAME_MAX) -> str:
    """stem+suffix, shortening the stem (at a character boundary) so the name fits in max_bytes."""
    while len(os.fsencode(stem + suffix)) > max_bytes and stem:
        stem = stem[:-1]
    return stem + suffix


def unique_name(name: str, taken: set[str]) -> str:
    """The name itself if free, else 'stem (2).ext', 'stem (3).ext', ... always within 255 bytes."""
    if name not in taken and len(os.fsencode(name)) <= NAME_MAX:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    ext = "." + ext if ext else ""
    n = 2
    while True:
        candidate = fit_name(stem, f" ({n}){ext}")
        if candidate not in taken:
            return candidate
        n += 1


def _listdir(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def build_plan(root: Path, dest: Path, assignment: list[tuple[VideoFile, str]], settings: dict,
               skipped: Iterable[Failure] = (), downloading: Iterable[Failure] = (),
               listdir: Callable[[Path], set[str]] = _listdir, now: datetime | None = None,
               stay: set[str] = frozenset(), distances: dict[str, float] | None = None, mode: str = "cluster",
               fingerprints: dict[str, str] | None = None) -> Plan:
    """Place each video at DEST/<cluster>/<name>; a file already in its cluster folder stays (runs twice safely).

    Videos whose rel is in `stay` are counted in their cluster and never moved (hand-placed files).
    """
    distances = distances or {}
    root, dest = Path(os.path.abspath(root)), Path(os.path.abspath(dest))
    taken: dict[str, set[str]] = {}
    moves: list[Move] = []
    sizes: dict[str, int] = {}
    in_place = 0
    for video, cluster in sorted(assignment, key=lambda a: (a[1], a[0].rel)):
        sizes[cluster] = sizes.get(cluster, 0) + 1
        folder = dest / cluster
        if (video.rel in stay or video.path.parent == folder
                or Path(os.path.abspath(video.path)).parent == folder):
            in_place += 1
            continue
        names = taken.setdefault(cluster, listdir(folder))
        name = unique_name(video.path.name, names)
        names.add(name)
        moves.append(Move(video.rel, f"{cluster}/{name}", cluster, video.size, video.mtime_ns, video.ino,
                          distances.get(video.rel), (fingerprints or {}).get(video.rel, "")))
    created = now.isoformat(timespec="seconds") if now else now_iso()
    clusters = [ClusterInfo(name, size) for name, size in sorted(sizes.items())]
    return Plan(str(root), str(dest), created, settings, clusters, moves,
                list(skipped), list(downloading), in_place, mode)
