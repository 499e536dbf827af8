"""Property-based: edit a valid manifest in every way a person (or an attacker) might, and apply it. Either it is
refused in one sentence with nothing changed, or it is applied: nothing lost, nothing written outside root and
dest, nothing of organize's own touched."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from organizer.moves import mover, recovery
from organizer.moves.manifest import parse_plan
from organizer.errors import ManifestError
from organizer.layout import Layout

from .moverkit import make_library, make_plan

NAMES = [b"a.mp4", b"b.mp4", b"sub/c.mp4", b"d.mp4", b"e.mp4"]
VALUES = [None, 0, -1, 1.5, 1e999, float("nan"), True, "", "x", [], {}, "\ud800", "a\0b", 2 ** 70]
PATHS = ["../x.mp4", "/etc/passwd", ".organizer/state.sqlite", ".organizer/lock", "cluster-01/.organizer-tmp-1",
         "c/.organizer", "a/../../b.mp4", "~/x.mp4", "", "c1/c2/x.mp4", "x.mp4", "sub", "cluster-01/a.mp4",
         "sub/../a.mp4", "./a.mp4", "a.mp4", "cluster-02/b.mp4"]
FIELDS = ["src", "dst", "cluster", "size", "mtime_ns", "ino", "distance"]


def snapshot(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if "/.organizer/journal/" in path or path.endswith("/.organizer/lock"):
                    continue
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, folders[0].parent)] = hashlib.sha256(fh.read()).hexdigest()
    return out


mutation = st.one_of(
    st.tuples(st.just("value"), st.integers(0, 4), st.sampled_from(FIELDS), st.sampled_from(VALUES)),
    st.tuples(st.just("path"), st.integers(0, 4), st.sampled_from(["src", "dst"]), st.sampled_from(PATHS)),
    st.tuples(st.just("duplicate"), st.integers(0, 4), st.just(""), st.just(None)),
    st.tuples(st.just("swap"), st.integers(0, 4), st.sampled_from(["src", "dst"]), st.integers(0, 4)),
    st.tuples(st.just("top"), st.just(0), st.sampled_from(["root", "dest"]),
              st.sampled_from(["OUTSIDE", "ROOT/.organizer", "ROOT/sub", "NEW", "relative/path", 7])),
    st.tuples(st.just("text"), st.integers(0, 4), st.sampled_from(["src", "dst"]), st.text(max_size=12)),
)


def mutate(data: dict, change, base: Path) -> None:
    kind, n, field_, value = change
    moves = data["moves"]
    if not moves:
        return
    move = moves[n % len(moves)]
    if kind in ("value", "path", "text"):
        move[field_] = value
    elif kind == "duplicate":
        moves.append(dict(move))
    elif kind == "swap":
        other = moves[value % len(moves)]
        move[field_], other[field_] = other[field_], move[field_]
    elif kind == "top":
        named = {"OUTSIDE": base / "outside", "ROOT/.organizer": base / "lib" / ".organizer",
                 "ROOT/sub": base / "lib" / "sub", "NEW": base / "out" / "new"}
        data[field_] = str(named[value]) if value in named else value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=3))
@example([("swap", 0, "dst", 1)])                   # valid edits are applied (and checked), not only refused
@example([("path", 2, "dst", "cluster-02/b.mp4"), ("top", 0, "dest", "NEW")])
@example([("top", 0, "dest", "OUTSIDE")])
def test_an_edited_manifest_loses_nothing_and_writes_nowhere_else(changes):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root, dest, outside = base / "lib", base / "out", base / "outside"
        (root / "sub").mkdir(parents=True)
        make_library(root, NAMES, [10, 20, 30, 4000, 50])
        outside.mkdir()
        (outside / "precious.txt").write_text("do not touch")
        data = json.loads(make_plan(root, dest).to_json())
        for change in changes:
            mutate(data, change, base)
        before = snapshot(root, dest, outside)
        try:
            plan = parse_plan(json.dumps(data))
        except ManifestError:
            assert snapshot(root, dest, outside) == before
            return
        layout = Layout.of(root)
        recovery.recover(layout)
        try:
            mover.apply_plan(plan, layout)
        except ManifestError:                         # its folders cannot be opened: refused, nothing moved
            assert snapshot(root, dest, outside) == before
            return
        after = snapshot(root, dest, outside)
        ours = [k for k in after if k.startswith("lib/.organizer")]
        assert sorted(v for k, v in after.items() if k not in ours) == sorted(
            v for k, v in before.items() if not k.startswith("lib/.organizer")), "a file was lost or duplicated"
        assert after["outside/precious.txt"] == hashlib.sha256(b"do not touch").hexdigest()
        allowed = [os.path.realpath(p) for p in (plan.root, plan.dest)]
        for key in set(after) - set(before) - set(ours):
            real = os.path.realpath(base / key)
            assert any(real.startswith(a + os.sep) for a in allowed), f"{key} was written outside root and dest"
        assert set(os.listdir(base)) <= {"lib", "out", "outside"}, "something was written outside root and dest"
