"""One review: the plan on the page, the thumbnails it shows (from the library's cache), and the two things the page
can ask for, save and apply. The page names videos and clusters by their number in the plan it was drawn from,
never by a path, so nothing the browser sends can point at a file.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from organizer.clock import stamp
from organizer.errors import ManifestError, OrganizerError
from organizer.layout import Layout, free_name
from organizer.library import Library
from organizer.moves.edit import Edits, edited_plan
from organizer.moves.manifest import parse_plan, read_manifest
from organizer.moves.plan import Plan
from organizer.pipeline import ResolvedRun
from organizer.types import UNSORTED


class EditRefused(OrganizerError):
    """What the page sent is not an edit of the plan it shows."""


@dataclass(frozen=True)
class Shown:
    """One video on the page: a move of the plan, with what the cache knows about it."""

    src: str
    cluster: str
    size: int
    distance: float | None
    duration: float | None
    times: tuple[float, ...]
    thumbs: tuple[bytes, ...]


def newest_plan(library: Library) -> Path:
    """The newest manifest in the library's plans folder that was not applied. Raises OrganizerError when there
    is none."""
    newest = next(library.unapplied(sorted(library.layout.plans_dir.glob("*.json"), reverse=True)), None)
    if newest is not None:
        return newest
    raise OrganizerError(f"There is no plan waiting to be applied in {library.layout.plans_dir}; make one with "
                         f"`organize {shlex.quote(str(library.layout.root))} --dry-run`, then review it.")


def plan_target(target: Path) -> tuple[Path, Plan | None]:
    """What `organize review TARGET` names: (library root, the plan) for a manifest, (the folder, None) for a
    library folder, whose newest unapplied plan is found once its lock is held."""
    if target.is_dir():
        if not Layout.of(target).exists():
            raise OrganizerError(f"{target} has no plans to review (organize has never worked on it); make one with "
                                 f"`organize {shlex.quote(str(target))} --dry-run`.")
        return target, None
    plan = parse_plan(read_manifest(target), str(target))
    return Path(plan.root), plan


class ReviewSession:
    """The plans of one review (the one opened and each one saved), by id; `current` is the one the page shows."""

    def __init__(self, library: Library, manifest: Path, plan: Plan):
        self.library = library
        self.manifest = manifest
        self.plans: dict[str, Plan] = {}
        self.shown: dict[str, list[Shown]] = {}
        self.cache = _cached(library, plan)
        self.applied: dict | None = None
        self._show(plan, manifest)

    @classmethod
    def open(cls, library: Library, manifest: Path | None) -> "ReviewSession":
        """The review of `manifest` (None: the library's newest unapplied plan)."""
        manifest = manifest or newest_plan(library)
        return cls(library, Path(manifest), parse_plan(read_manifest(manifest), str(manifest)))

    def _show(self, plan: Plan, manifest: Path) -> None:
        self.plans[plan.id] = plan
        self.current, self.manifest = plan, manifest
        cache = self.cache
        self.shown[plan.id] = [Shown(m.src, m.cluster, m.size, m.distance, *cache.get(m.fingerprint, (None, (), ())))
                               for m in plan.moves]

    def clusters(self, plan: Plan) -> list[str]:
        """The clusters a video of this plan can go to, by number: the plan's own, then _unsorted."""
        names = [c.name for c in plan.clusters if c.name != UNSORTED]
        names += sorted({m.cluster for m in plan.moves} - set(names) - {UNSORTED})   # an edited manifest's
        return names + [UNSORTED]

    def existing(self, name: str) -> bool:
        """A cluster whose folder exists already (it keeps its name: renaming it would leave its files behind)."""
        return name == UNSORTED or (Path(self.current.dest) / name).is_dir()

    # ------------------------------------------------------------------------------------- what the page asks
    def edits(self, data) -> tuple[Plan, Edits]:
        """The plan a request edits and its edits, from the page's JSON:
        {"plan": id, "names": {"<cluster number>": "name"}, "targets": {"<video number>": cluster number or null}}.
        Raises EditRefused with a sentence for anything else."""
        if not isinstance(data, dict) or data.get("plan") not in self.plans:
            raise EditRefused("This page shows a plan this review does not know; reload the page.")
        plan = self.plans[data["plan"]]
        clusters, moves = self.clusters(plan), plan.moves
        names, targets = data.get("names", {}), data.get("targets", {})
        if not isinstance(names, dict) or not isinstance(targets, dict):
            raise EditRefused("names and targets must be objects; reload the page.")
        try:
            renamed = {clusters[_number(k, len(clusters))]: _name(v) for k, v in names.items()}
            moved = {moves[_number(k, len(moves))].src: None if v is None else clusters[_number(v, len(clusters))]
                     for k, v in targets.items()}
        except (ValueError, TypeError):
            raise EditRefused("The page sent a video or cluster this plan does not have; reload the page.") from None
        return plan, Edits(moved, {k: v for k, v in renamed.items() if v != k})

    def save(self, data) -> dict:
        """Write the edited plan as a new manifest next to the one opened (which is never changed), and remember
        the decisions in it. Returns what the page says."""
        if self.applied is not None:
            raise EditRefused("This review has applied its plan already; run `organize review` again for a new one.")
        base, edits = self.edits(data)
        try:
            plan = edited_plan(base, edits)
        except ManifestError as exc:
            raise EditRefused(str(exc)) from None
        folder = self.manifest.parent
        first = f"{stamp()}-reviewed"
        name = free_name(first + ".json", lambda n: f"{first}-{n}.json", lambda c: os.path.lexists(folder / c))
        path = self.library.write_manifest(plan, folder / name)
        self.library.remember(plan)
        self._show(plan, path)
        excluded = sum(d.kind == "exclude" for d in plan.decisions)
        return {"saved": str(path), "plan": plan.id, "moves": len(plan.moves), "excluded": excluded,
                "message": f"Saved as {path}: {len(plan.moves)} move{'s' if len(plan.moves) != 1 else ''}"
                           + (f", {excluded} video{'s' if excluded != 1 else ''} left where they are" if excluded
                              else "") + "."}

    def apply(self, data) -> dict:
        """Save the page's edits (when it has any), then apply that manifest exactly as `organize apply` does."""
        if self.applied is not None:
            return self.applied
        base, edits = self.edits(data)
        saved = self.save(data) if edits.targets or edits.names or base is not self.current else None
        report = self.library.apply(self.current)
        undo = f"organize undo {shlex.quote(str(self.library.layout.root))}"
        problems = [f"{f.path}: {f.reason}" for f in report.skipped + report.errors]
        self.applied = {"run": report.run, "moved": report.moved, "problems": problems, "exit_code": report.exit_code,
                        "manifest": str(self.manifest), "saved": saved and saved["saved"],
                        "message": report.note or (f"Moved {report.moved} file{'s' if report.moved != 1 else ''} "
                                                   f"(run {report.run})" + (f", {len(problems)} not moved"
                                                                            if problems else "")
                                                   + f". To move them back: {undo}")}
        return self.applied


def _number(value, limit: int) -> int:
    n = int(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else -1
    if not 0 <= n < limit:
        raise ValueError(value)
    return n


def _name(value) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value.strip()


def _cached(library: Library, plan: Plan) -> dict[str, tuple[float, tuple[float, ...], tuple[bytes, ...]]]:
    """fingerprint -> (duration, keyframe times, thumbnails) from the library's cache, for the plan's videos.
    A plan made with settings this organize cannot resolve any more (a model file gone) shows no thumbnails."""
    try:
        run = ResolvedRun.recorded(plan.settings)
    except OrganizerError:
        return {}
    found = library.state.lookup([m.fingerprint for m in plan.moves if m.fingerprint], run.key, with_thumbnails=True)
    return {fp: (a.duration, tuple(a.keyframes.times), tuple(a.thumbnails)) for fp, a in found.analyses.items()}
