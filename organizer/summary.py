"""What a command did, as typed data: the CLI renders it, --json prints it. No dict is read back by key."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from organizer.types import UNSORTED, Failure


def clusters_line(videos: int, clusters: list[tuple[str, int]]) -> str:
    """'25 videos in 3 clusters; 4 wait in _unsorted': the same words in the summary and in the report (_unsorted
    is not a cluster)."""
    real = [name for name, _ in clusters if name != UNSORTED]
    waiting = sum(size for name, size in clusters if name == UNSORTED)
    line = f"{videos} video{'s' if videos != 1 else ''} in {len(real)} cluster{'s' if len(real) != 1 else ''}"
    return line + (f"; {waiting} wait{'s' if waiting == 1 else ''} in {UNSORTED}" if waiting else "")


@dataclass(frozen=True)
class NewVideo:
    """A video found outside the cluster folders, where it goes, and how far it is from that cluster's centre."""

    path: str
    cluster: str
    distance: float | None


@dataclass(frozen=True)
class ClusterLine:
    name: str
    size: int
    to_move: int = 0


@dataclass(frozen=True)
class VideoLine:
    """One video's row in the verbose table."""

    path: str
    cluster: str
    duration: float
    frames: int
    keyframes: int


@dataclass(frozen=True)
class RunReport:
    """The outcome of `organize PATH`: what was planned, what moved, what was skipped and why."""

    root: str
    dest: str
    dry_run: bool
    manifest: str
    report: str | None
    mode: str
    videos: int
    cached: int
    new: tuple[NewVideo, ...]
    clusters: tuple[ClusterLine, ...]
    k_choice: str
    drift: dict | None                 # the folders' silhouette against a fresh clustering's, and what --recluster moves
    planned: int
    moved: int
    in_place: int
    skipped: tuple[Failure, ...]
    downloading: tuple[Failure, ...]
    errors: tuple[Failure, ...]
    recovered: int
    frames: int
    frames_reused: int
    backend: str
    warnings: tuple[str, ...]
    seconds: float
    memory_mib: float = 0.0            # peak memory of this process plus every worker process
    settle_seconds: float = 600.0
    recent: int = 0                    # of `downloading`: left alone only for their recent modification time
    looks_finished: int = 0            # of those: complete, not growing and not open for writing
    copies: int = 0                    # recently modified videos organized as finished copies
    retry_at: str | None = None        # when the last video left alone leaves the settle time (local time)
    timings: dict[str, float] = field(default_factory=dict)    # seconds per phase of the run
    threshold: dict = field(default_factory=dict)   # the max_distance used: value, how chosen, why (a sentence)
    furniture: list = field(default_factory=list)   # pictures that recur in unrelated videos: videos, example
    same_video: int = 0                # groups of files that are one video (the plan lists them)
    reposts: int = 0                   # files in those groups besides the best copy of each
    video_lines: tuple[VideoLine, ...] = field(default=(), repr=False)

    @property
    def exit_code(self) -> int:
        return 5 if self.errors else 0

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("video_lines")
        data["clusters"] = [{"name": c.name, "size": c.size} for c in self.clusters]
        data["seconds"] = round(self.seconds, 2)
        data["exit_code"] = self.exit_code
        return json.dumps(data, ensure_ascii=True)


@dataclass(frozen=True)
class MoveReport:
    """The outcome of `organize apply` or `organize undo`."""

    run: str
    moved: int
    recovered: int = 0
    skipped: tuple[Failure, ...] = ()
    errors: tuple[Failure, ...] = ()
    dry_run: bool = False
    note: str = ""                     # a sentence when there was nothing to do (already undone, already applied)
    nothing_to_undo: bool = False      # undo found every move of the application already undone (exit 1)
    journal: str = ""                  # undo: the id of its own journal (`run` is the application it undid)

    @property
    def exit_code(self) -> int:
        return 5 if self.errors else 1 if self.nothing_to_undo else 0

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("dry_run")
        data["exit_code"] = self.exit_code
        return json.dumps(data, ensure_ascii=True)
