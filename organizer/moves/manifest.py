"""Reading a manifest, which a person may have edited: every value is checked before the first move.

A manifest that does not parse, has a value of the wrong type, a number that is not finite, a path that leaves its
folder, names organize's own state folder or temporary files, or moves one file twice, is refused in one sentence.
"""

from __future__ import annotations

import json
import math
import os

from organizer.errors import ManifestError
from organizer.inputs import InputError, MiB, read_text
from organizer.moves.plan import (DECISION_KINDS, MANIFEST_VERSION, ClusterInfo, Decision, Move, Plan,
                                  check_cluster_name, check_move)
from organizer.types import Failure

MODES = ("cluster", "recluster", "assign")
MANIFEST_LIMIT = 8192 * MiB        # about 25 million moves


def _fail(origin: str, problem: str) -> ManifestError:
    return ManifestError(f"{origin} is not a valid organize manifest: {problem}. Fix it, or run the dry run again "
                         "to write a fresh one.")


def _text(value, what: str, origin: str) -> str:
    if not isinstance(value, str):
        raise _fail(origin, f"{what} must be text, not {type(value).__name__}")
    if "\0" in value:
        raise _fail(origin, f"{what} contains a NUL character")
    try:
        os.fsencode(value)
    except UnicodeEncodeError:
        raise _fail(origin, f"{what} contains a character no file name can hold") from None
    return value


def _count(value, what: str, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(origin, f"{what} must be a whole number of 0 or more, not {value!r}")
    return value


def _move(m, n: int, origin: str):
    if not isinstance(m, dict):
        raise _fail(origin, f"move {n + 1} is not an object")
    src, dst = _text(m.get("src"), f"move {n + 1} src", origin), _text(m.get("dst"), f"move {n + 1} dst", origin)
    check_move(src, dst)                 # an unsafe path is the first thing to say
    distance = m.get("distance")
    if distance is not None and (isinstance(distance, bool) or not isinstance(distance, (int, float))
                                 or not math.isfinite(distance)):
        raise _fail(origin, f"move {n + 1} distance must be a finite number or null, not {distance!r}")
    return Move(src, dst, _text(m.get("cluster"), f"move {n + 1} cluster", origin),
                _count(m.get("size"), f"move {n + 1} size", origin),
                _count(m.get("mtime_ns"), f"move {n + 1} mtime_ns", origin),
                _count(m.get("ino"), f"move {n + 1} ino", origin),
                None if distance is None else float(distance),
                _text(m.get("fingerprint", ""), f"move {n + 1} fingerprint", origin))


def _list(value, what: str, origin: str) -> list:
    if not isinstance(value, list):
        raise _fail(origin, f"{what} must be a list")
    return value


def _failures(items, what: str, origin: str) -> list[Failure]:
    if not isinstance(items, list):
        raise _fail(origin, f"{what} must be a list")
    return [Failure(_text(i.get("path") if isinstance(i, dict) else None, f"{what} path", origin),
                    _text(i.get("reason", ""), f"{what} reason", origin)) for i in items]


def _decisions(items, origin: str, moved: set[str]) -> list[Decision]:
    """A reviewed plan's decisions: each names a video of the plan's moves (or one it leaves out) and a kind."""
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise _fail(origin, "decisions must be a list of objects")
    out = []
    for n, d in enumerate(items):
        kind = d.get("kind")
        if kind not in DECISION_KINDS:
            raise _fail(origin, f"decision {n + 1} kind must be one of {', '.join(DECISION_KINDS)}")
        src = _text(d.get("src"), f"decision {n + 1} src", origin)
        cluster = _text(d.get("cluster", ""), f"decision {n + 1} cluster", origin)
        if kind == "cluster":
            try:
                check_cluster_name(cluster)
            except ManifestError as exc:
                raise _fail(origin, f"decision {n + 1}: {exc}") from None
        if kind == "cluster" and src not in moved:
            raise _fail(origin, f"decision {n + 1} puts {src!r} in a cluster, but no move takes it there")
        out.append(Decision(_text(d.get("fingerprint"), f"decision {n + 1} fingerprint", origin), src, kind,
                            cluster))
    return out


def read_manifest(path) -> str:
    """A manifest file's text (names that are not UTF-8 kept as escapes), or a sentence why it cannot be read."""
    if not os.path.lexists(path):
        raise ManifestError(f"The manifest {path} does not exist; a dry run prints where it wrote its plan.")
    if os.path.isdir(path):
        raise ManifestError(f"{path} is a folder; pass the plan's .json file (a dry run prints its name).")
    try:
        return read_text(path, "manifest", MANIFEST_LIMIT, errors="surrogateescape")
    except InputError as exc:
        raise ManifestError(str(exc)) from None


def _threshold(raw, origin: str) -> dict:
    """The recorded max_distance: {"max_distance": 0..2, "chosen": text, "why": text} (empty when absent)."""
    if not isinstance(raw, dict):
        raise _fail(origin, "threshold must be an object")
    if not raw:
        return {}
    value = raw.get("max_distance")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 2.0:
        raise _fail(origin, "threshold.max_distance must be a number between 0 and 2")
    videos = raw.get("videos", 0)
    return {"max_distance": float(value), "chosen": _text(raw.get("chosen", ""), "threshold.chosen", origin),
            "why": _text(raw.get("why", ""), "threshold.why", origin),
            "videos": _count(videos, "threshold.videos", origin)}


def parse_plan(text: str, origin: str = "manifest"):
    """The Plan a manifest's text describes, or ManifestError with the first problem found."""
    if text.lstrip()[:1] == "<":
        raise ManifestError(f"{origin} is the HTML report, not the plan; apply the .json manifest next to it "
                            f"({os.path.splitext(origin)[0]}.json).")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _fail(origin, f"it is not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise _fail(origin, "it is nested far too deeply to be a plan") from None
    if not isinstance(data, dict):
        raise _fail(origin, "it is not a JSON object")
    if data.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{origin} has manifest version {data.get('version')!r}; this organize reads version "
                            f"{MANIFEST_VERSION}. Re-run the dry run to make a new plan.")
    root, dest = _text(data.get("root"), "root", origin), _text(data.get("dest"), "dest", origin)
    raw_moves = data.get("moves")
    if not isinstance(raw_moves, list):
        raise _fail(origin, "moves must be a list")
    moves = [_move(m, n, origin) for n, m in enumerate(raw_moves)]
    for attr in ("src", "dst"):                   # linear: a million moves are checked in seconds
        seen: set[str] = set()
        for m in moves:
            value = getattr(m, attr)
            if value in seen:
                raise _fail(origin, f"the {attr} {value!r} appears in more than one move")
            seen.add(value)
    clusters = data.get("clusters", [])
    if not isinstance(clusters, list) or not all(isinstance(c, dict) for c in clusters):
        raise _fail(origin, "clusters must be a list of objects")
    mode = data.get("mode", "cluster")
    if mode not in MODES:
        raise _fail(origin, f"mode must be one of {', '.join(MODES)}")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise _fail(origin, "settings must be an object")
    plan = Plan(root, dest, str(data.get("created", "")), settings,
                [ClusterInfo(_text(c.get("name"), "cluster name", origin), _count(c.get("size"), "cluster size",
                                                                                   origin)) for c in clusters],
                moves, _failures(data.get("skipped", []), "skipped", origin),
                _failures(data.get("downloading", []), "downloading", origin),
                _count(data.get("in_place", 0), "in_place", origin), mode, _text(data.get("id"), "id", origin),
                warnings=[_text(w, "a warning", origin) for w in _list(data.get("warnings", []), "warnings", origin)],
                decisions=_decisions(data.get("decisions", []), origin, {m.src for m in moves}),
                threshold=_threshold(data.get("threshold", {}), origin),
                same_video=[[_text(p, "a same_video path", origin) for p in _list(g, "a same_video group", origin)]
                            for g in _list(data.get("same_video", []), "same_video", origin)])
    plan.check_folders()                 # every move's paths were checked as it was read
    return plan
