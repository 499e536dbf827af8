"""Placement rules on plain vectors: no video, no model, no database."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from organizer.grouping.space import match_clusters
from organizer.grouping.placement import (UNSORTED, Member, Rules, centroids_from_folders, place, refreshed,
                                 renamed_folders, top_folder)
from organizer.types import ClusterRow, ClusterSet

SPACE = "test:space"


def blob_vectors(k=3, per=4, dim=16, seed=0, spread=0.15):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    vecs = [c + spread * rng.normal(size=dim) for c in centres for _ in range(per)]
    return np.array(vecs, np.float32), np.repeat(np.arange(k), per), centres


def organised(k=3, per=4, dim=16, seed=0):
    """Members already in folders g0, g1, ... and the clusters a run would have stored for them."""
    x, truth, centres = blob_vectors(k, per, dim, seed)
    members = [Member(f"g{t}/v{i}.mp4", f"fp{i}", x[i], f"g{t}") for i, t in enumerate(truth)]
    rows, mean = centroids_from_folders(members, [f"g{t}" for t in range(k)], None)
    return members, ClusterSet(tuple(rows), mean, SPACE), centres


def test_top_folder():
    assert top_folder("/lib/c1/a.mp4", "/lib") == "c1"
    assert top_folder("/lib/c1/deep/a.mp4", "/lib/") == "c1"
    assert top_folder("/lib/a.mp4", "/lib") is None
    assert top_folder("/library/c1/a.mp4", "/lib") is None


def test_a_first_run_clusters_everything():
    x, truth, _ = blob_vectors(4, 5)
    members = [Member(f"v{i}.mp4", f"fp{i}", v, None) for i, v in enumerate(x)]
    p = place(members, ClusterSet(), Rules(), SPACE, None)
    assert p.mode == "cluster" and p.stay == frozenset() and p.outside == {m.rel for m in members}
    assert adjusted_rand_score(truth, [p.assigned[m.rel] for m in members]) == 1.0
    assert any("no class names" in w for w in p.warnings)


def test_new_videos_join_the_nearest_cluster_and_far_ones_wait_in_unsorted():
    members, stored, centres = organised()
    rng = np.random.default_rng(9)
    near = Member("new-near.mp4", "n1", (centres[1] + 0.1 * rng.normal(size=16)).astype(np.float32), None)
    far = Member("new-far.mp4", "n2", rng.normal(size=16).astype(np.float32) * 5, None)
    p = place(members + [near, far], stored, Rules(max_distance=0.5), SPACE, None, present={"g0", "g1", "g2"})
    assert p.mode == "assign"
    assert p.assigned["new-near.mp4"] == "g1" and p.distances["new-near.mp4"] <= 0.5
    assert p.assigned["new-far.mp4"] == UNSORTED and p.distances["new-far.mp4"] > 0.5
    assert {m.rel for m in members} <= p.stay          # everything in a cluster folder stays


def test_one_far_video_waits_in_unsorted_but_a_group_opens_a_cluster():
    members, stored, centres = organised()
    rng = np.random.default_rng(3)
    elsewhere = rng.normal(size=16) * 5
    pair = [Member(f"new{i}.mp4", f"n{i}", (elsewhere + 0.1 * rng.normal(size=16)).astype(np.float32), None)
            for i in range(2)]
    lone = Member("lone.mp4", "n9", (rng.normal(size=16) * 5).astype(np.float32), None)
    p = place(members + [lone], stored, Rules(max_distance=0.5), SPACE, None)
    assert p.assigned["lone.mp4"] == UNSORTED, "one video is not a group"
    p = place(members + pair + [lone], stored, Rules(max_distance=0.5), SPACE, None)
    opened = p.assigned["new0.mp4"]
    assert opened == p.assigned["new1.mp4"] and opened not in {"g0", "g1", "g2", UNSORTED}, "auto opens it too"
    assert p.assigned["lone.mp4"] == UNSORTED
    full = place(members + pair, stored, Rules(n_clusters=3, max_distance=0.5), SPACE, None)
    assert full.assigned["new0.mp4"] == UNSORTED, "--clusters 3 with 3 clusters: no room"
    room = place(members + pair, stored, Rules(n_clusters=4, max_distance=0.5), SPACE, None)
    assert room.assigned["new0.mp4"] == room.assigned["new1.mp4"] not in {"g0", "g1", "g2", UNSORTED}


def test_unsorted_is_a_waiting_room_looked_at_every_run():
    members, stored, centres = organised()
    rng = np.random.default_rng(4)
    near = Member("_unsorted/near.mp4", "u1", (centres[2] + 0.1 * rng.normal(size=16)).astype(np.float32),
                  UNSORTED)
    elsewhere = rng.normal(size=16) * 5
    waiting = Member("_unsorted/w.mp4", "u2", (elsewhere + 0.1 * rng.normal(size=16)).astype(np.float32), UNSORTED)
    new = Member("new.mp4", "n1", (elsewhere + 0.1 * rng.normal(size=16)).astype(np.float32), None)
    p = place(members + [near, waiting], stored, Rules(max_distance=0.5), SPACE, None)
    assert p.assigned["_unsorted/near.mp4"] == "g2", "a video that now fits a cluster leaves _unsorted"
    assert p.assigned["_unsorted/w.mp4"] == UNSORTED and "_unsorted/w.mp4" in p.stay
    p = place(members + [near, waiting, new], stored, Rules(max_distance=0.5), SPACE, None)
    assert p.assigned["_unsorted/w.mp4"] == p.assigned["new.mp4"] not in {UNSORTED, "g0", "g1", "g2"}


def test_a_count_far_above_the_videos_is_a_ceiling_on_a_first_run():
    x, truth, _ = blob_vectors(3, 3)
    members = [Member(f"v{i}.mp4", f"fp{i}", v, None) for i, v in enumerate(x)]
    p = place(members, ClusterSet(), Rules(n_clusters=30, max_distance=0.5), SPACE, None)
    assert len(set(p.assigned.values())) == 3
    assert "--clusters 30 is a ceiling" in p.k_choice
    assert "9 videos are too few for 30 clusters of at least 2" in p.k_choice
    exact = place(members, ClusterSet(), Rules(n_clusters=4, max_distance=0.5), SPACE, None)
    assert len(set(exact.assigned.values())) == 4 and "as asked" in exact.k_choice      # 9 >= 2 x 4: KMeans
    larger = place(members, ClusterSet(), Rules(n_clusters=4, max_distance=0.5, min_cluster_size=3), SPACE, None)
    assert "ceiling" in larger.k_choice and len(set(larger.assigned.values())) == 3   # 9 < 3 x 4: groups of 3


def test_drift_is_reported_with_what_a_recluster_would_move():
    from organizer.grouping.growth import drift
    x, truth, _ = blob_vectors(3, 6, seed=5)
    from organizer.grouping.space import prepare
    xp = prepare(x)
    good = [f"g{t}" for t in truth]
    assert drift(xp, good).suggested is False
    shuffled = [good[(i * 7) % len(good)] for i in range(len(good))]
    bad = drift(xp, shuffled)
    assert bad.suggested and bad.fresh - bad.current > 0.05 and 0 < bad.moves <= len(good)
    assert f"moving {bad.moves} of {len(good)} videos" in bad.sentence()


def test_a_nightly_run_with_new_videos_checks_the_fit_but_never_moves_between_clusters():
    members, stored, centres = organised(k=3, per=5)
    scrambled = [Member(m.rel, m.fingerprint, m.vector, f"g{(i * 2) % 3}") for i, m in enumerate(members)]
    rows, mean = centroids_from_folders(scrambled, ["g0", "g1", "g2"], None)
    new = Member("new.mp4", "n1", centres[0].astype(np.float32), None)
    p = place(scrambled + [new], ClusterSet(tuple(rows), mean, SPACE), Rules(max_distance=1.5), SPACE, None)
    assert p.drift is not None and p.drift.suggested
    assert any(f"--recluster --clusters {p.drift.clusters} would regroup the library into {p.drift.clusters} "
               "clusters" in w for w in p.advice), "the advice names exactly the command that was measured"
    assert all(p.assigned[m.rel] == m.folder for m in scrambled), "nothing moves between clusters"


def test_hand_moves_are_truth():
    members, stored, _ = organised()
    moved = Member("g2/v0.mp4", "fp0", members[0].vector, "g2")     # a g0-like video the user put in g2
    p = place([moved] + members[1:], stored, Rules(), SPACE, None)
    assert p.assigned["g2/v0.mp4"] == "g2" and "g2/v0.mp4" in p.stay


def test_a_renamed_folder_is_recognised():
    rows = (ClusterRow("01-a", None), ClusterRow("02-b", None))
    last = {"f1": "01-a", "f2": "01-a", "f3": "02-b"}
    located = {"f1": "holiday", "f2": "holiday", "f3": "02-b"}
    assert renamed_folders(rows, {"holiday", "02-b"}, located, last) == {"01-a": "holiday"}
    assert renamed_folders(rows, {"01-a", "02-b"}, located, last) == {}      # the old folder still exists


def test_centroids_follow_what_the_folders_hold():
    members, stored, _ = organised()
    moved = [Member(m.rel, m.fingerprint, m.vector, "g1" if m.rel == "g0/v0.mp4" else m.folder) for m in members]
    after, memberships = refreshed(moved, set(stored.names), stored, SPACE, {"g0", "g1", "g2"})
    sizes = {r.name: r.size for r in after.rows}
    assert sizes == {"g0": 3, "g1": 5, "g2": 4} and memberships["fp0"] == "g1"
    before = {r.name: r.centroid for r in stored.rows}
    moved_centroid = {r.name: r.centroid for r in after.rows}
    assert not np.allclose(before["g1"], moved_centroid["g1"])
    np.testing.assert_allclose(before["g2"], moved_centroid["g2"], atol=1e-6)
    np.testing.assert_array_equal(after.mean, stored.mean)   # the space is fixed between reclusterings


@pytest.mark.parametrize("new_dim", [16, 24])
def test_another_feature_model_never_crashes_and_nothing_moves_between_clusters(new_dim):
    """Clusters stored by model A (16-d), the library analysed again by model B (other space, maybe another
    dimension): centroids are derived again from the folders, a new video is placed, nothing else moves."""
    members, stored, _ = organised()
    rng = np.random.default_rng(1)
    project = rng.normal(size=(16, new_dim))
    in_b = [Member(m.rel, m.fingerprint, (m.vector @ project).astype(np.float32), m.folder) for m in members]
    new = Member("new.mp4", "n1", (members[5].vector @ project + 0.01).astype(np.float32), None)
    p = place(in_b + [new], stored, Rules(), "other:space", None, present={"g0", "g1", "g2"})
    assert p.mode == "assign" and p.assigned["new.mp4"] == members[5].folder
    assert {m.rel for m in in_b} <= p.stay
    assert any("another feature model" in w for w in p.warnings)
    assert p.clusters.space == "other:space" and all(len(r.centroid) == new_dim for r in p.clusters.rows)


def test_hungarian_matching_keeps_names_with_fewest_moves():
    # new clusters 0,1,2 correspond to old folders c, a, b (by membership)
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    folders = ["c", "c", "a", "a", "b", "b", "a"]
    mapping = match_clusters(labels, folders, np.eye(3), ["a", "b", "c"], None)
    assert mapping == {0: "c", 1: "a", 2: "b"}
    # with more new clusters than old folders, the extra one stays unmatched
    labels = np.array([0, 0, 1, 2])
    mapping = match_clusters(labels, ["a", "a", "b", "b"], np.eye(3), ["a", "b"], None)
    assert mapping[0] == "a" and len(mapping) == 2 and set(mapping.values()) == {"a", "b"}


def test_recluster_keeps_folder_names_and_moves_only_the_misplaced():
    members, stored, _ = organised()
    misplaced = [Member("g2/v0.mp4" if m.rel == "g0/v0.mp4" else m.rel, m.fingerprint, m.vector,
                        "g2" if m.rel == "g0/v0.mp4" else m.folder) for m in members]
    p = place(misplaced, stored, Rules(n_clusters=3), SPACE, None, recluster=True)
    assert p.mode == "recluster"
    assert set(p.assigned.values()) == {"g0", "g1", "g2"}
    assert p.assigned["g2/v0.mp4"] == "g0"
    assert len(p.stay) == len(members) - 1
