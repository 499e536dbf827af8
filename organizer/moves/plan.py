"""A plan as data: the moves (`Move`), the clusters they fill (`ClusterInfo`), and the `Plan` that the dry run
writes as a manifest and apply reads back. Every path a plan holds is checked here, in one place, whether the plan
was just built or read from a file a person may have edited. Imports no other module of moves/.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from organizer.errors import ManifestError
from organizer.layout import NAME_MAX, STATE_DIR, looks_like_ours
from organizer.types import Failure

MANIFEST_VERSION = 1


def check_relative(rel: str, what: str) -> None:
    """A relative path that stays inside its folder and names nothing of organize's own."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or "\0" in rel or rel.startswith("~"):
        raise ManifestError(f"Unsafe path in the manifest: {what} must stay inside its folder "
                            "(no absolute paths, no '..'). Fix the manifest or re-run the dry run.")
    if looks_like_ours(rel):
        raise ManifestError(f"Unsafe path in the manifest: {what} names organize's own {STATE_DIR} folder or one "
                            "of its temporary files, which a plan may never move or write. Fix the manifest or "
                            "re-run the dry run.")


REPOSTS = "_reposts"        # inside a cluster folder: the copies of a video set aside (--reposts aside)


def check_move(src: str, dst: str) -> None:
    """A move's paths: src inside root, dst a file inside one cluster folder of dest (or its _reposts folder);
    nothing of organize's own."""
    check_relative(src, f"move src {src!r}")
    check_relative(dst, f"move dst {dst!r}")
    parts = PurePosixPath(dst).parts
    if len(parts) != 2 and not (len(parts) == 3 and parts[1] == REPOSTS):
        raise ManifestError(f"move dst {dst!r} must be '<cluster folder>/<file name>' (or "
                            f"'<cluster folder>/{REPOSTS}/<file name>').")


def new_plan_id() -> str:
    """A fresh plan id: every apply of one plan shares it; an edited plan gets a new one."""
    return secrets.token_hex(8)


def check_cluster_name(name: str) -> str:
    """A cluster's folder name as a person typed it (in `organize review`), trimmed, or ManifestError saying why
    it cannot be one: one visible folder name inside dest, not organize's own."""
    name = name.strip() if isinstance(name, str) else ""
    problem = ("is empty" if not name else "contains '/'" if "/" in name else "contains a NUL character"
               if "\0" in name else "starts with '.' (a hidden folder, which scans leave out)" if name.startswith(".")
               else "starts with '~'" if name.startswith("~") else "is longer than a file name may be"
               if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX else "")
    if problem:
        raise ManifestError(f"The cluster name {name!r} {problem}; choose another name.")
    return name


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
class Decision:
    """What a person decided about one video in `organize review`: the library remembers it on later runs.
    kind: "cluster" (put it in `cluster`, a folder name or _unsorted) or "exclude" (leave it where it is)."""

    fingerprint: str
    src: str
    kind: str
    cluster: str = ""


DECISION_KINDS = ("cluster", "exclude")


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
    id: str = field(default_factory=lambda: new_plan_id())    # every apply of this plan shares it
    version: int = MANIFEST_VERSION
    warnings: list[str] = field(default_factory=list)       # what the run that made the plan warned about
    decisions: list[Decision] = field(default_factory=list)  # a reviewed plan: what the person decided
    threshold: dict = field(default_factory=dict)   # max_distance used, how it was chosen, why (Threshold.as_dict)
    same_video: list[list[str]] = field(default_factory=list)   # groups of files that are one video (paths as src)

    @property
    def max_distance(self) -> float:
        """The max_distance the plan was made with (older manifests: the setting, or 0.7)."""
        value = self.threshold.get("max_distance", self.settings.get("placement.max_distance", 0.7))
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.7

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
            "warnings": list(self.warnings),
            "same_video": [list(g) for g in self.same_video],
        }
        if self.threshold:
            data["threshold"] = dict(self.threshold)
        if self.decisions:
            data["decisions"] = [asdict(d) for d in self.decisions]
        # ensure_ascii keeps non-UTF-8 names (surrogate escapes) round-tripping exactly.
        return json.dumps(data, indent=2, ensure_ascii=True) + "\n"

    def digest(self) -> str:
        """What the plan does (its folders and moves), as a short hash: two manifests that share an id but move
        different files are two plans."""
        text = json.dumps([self.root, self.dest, [asdict(m) for m in self.moves]], ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]

    def validate(self) -> None:
        """Reject plans that could touch files outside root, write outside dest, or touch organize's own files."""
        self.check_folders()
        for m in self.moves:
            check_move(m.src, m.dst)

    def check_folders(self) -> None:
        """Root and dest: absolute, and dest not inside organize's own folder."""
        if not os.path.isabs(self.root) or not os.path.isabs(self.dest):
            raise ManifestError("The manifest's root and dest must be absolute paths.")
        state = os.path.join(os.path.abspath(self.root), STATE_DIR)
        if os.path.abspath(self.dest) == state or os.path.abspath(self.dest).startswith(state + os.sep):
            raise ManifestError(f"The manifest's dest lies inside {state}, organize's own folder; choose another.")
