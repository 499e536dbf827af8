"""A person's edits to a plan (moves/edit.py), and the decisions a reviewed manifest carries: pure, no browser."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from organizer.errors import ManifestError
from organizer.moves.edit import Edits, edited_plan
from organizer.moves.manifest import parse_plan
from organizer.moves.plan import ClusterInfo, Move, Plan
from organizer.types import UNSORTED


def plan_of(tmp_path, moves: dict[str, str], in_place: dict[str, int] | None = None) -> Plan:
    """A plan that moves src -> cluster (a file of the same name), with in_place files already in some clusters."""
    in_place = in_place or {}
    sizes = {c: list(moves.values()).count(c) + in_place.get(c, 0) for c in set(moves.values()) | set(in_place)}
    return Plan(str(tmp_path), str(tmp_path), "then", {"seed": 0}, [ClusterInfo(c, n) for c, n in sorted(sizes.items())],
                [Move(src, f"{c}/{src.rsplit('/', 1)[-1]}", c, 10, 1, i + 1, 0.2, f"fp-{src}")
                 for i, (src, c) in enumerate(sorted(moves.items(), key=lambda kv: (kv[1], kv[0])))])


def no_folders(path):
    return set()


def test_no_edits_give_the_same_moves_under_a_new_id(tmp_path):
    plan = plan_of(tmp_path, {"a.mp4": "x", "b.mp4": "y", "sub/c.mp4": "x"})
    same = edited_plan(plan, Edits(), no_folders)
    assert same.moves == plan.moves and same.clusters == plan.clusters and same.decisions == []
    assert same.id != plan.id


def test_rename_move_exclude_and_merge(tmp_path):
    plan = plan_of(tmp_path, {"a.mp4": "x", "b.mp4": "y", "one/c.mp4": "x", "two/c.mp4": "z"})
    new = edited_plan(plan, Edits({"b.mp4": UNSORTED, "a.mp4": None, "two/c.mp4": "x"}, {"x": "Friends & <b>"}),
                      no_folders)
    dst = {m.src: m.dst for m in new.moves}
    # merged into the renamed cluster; the two c.mp4 get distinct names there
    assert dst == {"b.mp4": "_unsorted/b.mp4", "one/c.mp4": "Friends & <b>/c.mp4", "two/c.mp4": "Friends & <b>/c (2).mp4"}
    assert {c.name: c.size for c in new.clusters} == {"Friends & <b>": 2, UNSORTED: 1}
    assert {(d.src, d.kind, d.cluster) for d in new.decisions} == {
        ("a.mp4", "exclude", ""), ("b.mp4", "cluster", UNSORTED), ("two/c.mp4", "cluster", "Friends & <b>")}
    assert next(m for m in new.moves if m.src == "two/c.mp4").distance is None    # not to the centre it was near
    again = parse_plan(new.to_json())
    assert again.decisions == new.decisions and again.moves == new.moves


def test_a_name_already_in_the_folder_is_not_taken(tmp_path):
    plan = plan_of(tmp_path, {"a.mp4": "x"})
    new = edited_plan(plan, Edits(names={"x": "y"}), lambda path: {"a.mp4"} if path.name == "y" else set())
    assert new.moves[0].dst == "y/a (2).mp4"


@pytest.mark.parametrize("name", ["", "  ", "a/b", ".hidden", "~home", "x" * 300, "a\0b"])
def test_a_cluster_name_that_cannot_be_a_folder_is_refused(tmp_path, name):
    plan = plan_of(tmp_path, {"a.mp4": "x"})
    with pytest.raises(ManifestError, match="choose another name"):
        edited_plan(plan, Edits(names={"x": name}), no_folders)


def test_an_existing_folder_keeps_its_name_and_unknown_videos_or_clusters_are_refused(tmp_path):
    (tmp_path / "x").mkdir()
    plan = plan_of(tmp_path, {"a.mp4": "x"}, in_place={"x": 3})
    with pytest.raises(ManifestError, match="exists already and keeps its name"):
        edited_plan(plan, Edits(names={"x": "new"}))
    with pytest.raises(ManifestError, match="keeps its name"):
        edited_plan(plan, Edits(names={UNSORTED: "waiting"}))
    with pytest.raises(ManifestError, match="not a video this plan moves"):
        edited_plan(plan, Edits({"../etc/passwd": "x"}))
    with pytest.raises(ManifestError, match="no cluster"):
        edited_plan(plan, Edits({"a.mp4": "nowhere"}))
    assert {c.name: c.size for c in edited_plan(plan, Edits({"a.mp4": UNSORTED})).clusters} == {"x": 3, UNSORTED: 1}


def test_a_manifest_with_bad_decisions_is_refused(tmp_path):
    plan = plan_of(tmp_path, {"a.mp4": "x"})
    data = json.loads(edited_plan(plan, Edits({"a.mp4": UNSORTED}), no_folders).to_json())
    for bad, why in (([{"kind": "delete", "src": "a.mp4", "fingerprint": "f"}], "kind must be one of"),
                     ([{"kind": "cluster", "src": "b.mp4", "fingerprint": "f", "cluster": "x"}], "no move takes it"),
                     ([{"kind": "cluster", "src": "a.mp4", "fingerprint": "f", "cluster": "../up"}], "choose another"),
                     ("all", "decisions must be a list")):
        with pytest.raises(ManifestError, match=why):
            parse_plan(json.dumps({**data, "decisions": bad}))
    with pytest.raises(ManifestError, match="warnings must be a list"):
        parse_plan(json.dumps({**data, "warnings": "x"}))


def test_a_move_into_a_cluster_the_manifest_does_not_list_can_still_be_edited(tmp_path):
    """A hand-edited manifest may name a cluster in a move and not in its clusters list."""
    plan = plan_of(tmp_path, {"a.mp4": "x", "b.mp4": "y"})
    plan.clusters = [c for c in plan.clusters if c.name != "y"]
    new = edited_plan(plan, Edits({"a.mp4": "y"}, {"y": "why"}), no_folders)
    assert {m.src: m.dst for m in new.moves} == {"a.mp4": "why/a.mp4", "b.mp4": "why/b.mp4"}


def test_a_copy_set_aside_stays_in_its_clusters_reposts_folder_whatever_the_cluster_is_called(tmp_path):
    """--reposts aside plans <cluster>/_reposts/<file>; renaming or merging the cluster in review kept the copy
    in the cluster itself (the edit rebuilt every dst as <cluster>/<file>)."""
    plan = plan_of(tmp_path, {"a.mp4": "x", "a copy.mp4": "x", "b.mp4": "y"})
    plan.moves = [replace(m, dst="x/_reposts/a copy.mp4") if m.src == "a copy.mp4" else m for m in plan.moves]
    new = edited_plan(plan, Edits({"a copy.mp4": "y"}, {"y": "kept"}), no_folders)
    dst = {m.src: m.dst for m in new.moves}
    assert dst == {"a.mp4": "x/a.mp4", "a copy.mp4": "kept/_reposts/a copy.mp4", "b.mp4": "kept/b.mp4"}
    parse_plan(new.to_json())            # the manifest still reads back
