import os
from pathlib import Path

import numpy as np
import pytest

from organizer.grouping.clustering import VideoClusterer
from organizer.moves.manifest import parse_plan
from organizer.grouping.names import cluster_names, safe_word
from organizer.errors import ManifestError
from organizer.moves.planner import build_plan
from organizer.layout import unique_name
from organizer.types import VideoFile


def vf(root: Path, rel: str) -> VideoFile:
    return VideoFile(root / rel, rel, 10, 1, 1, hash(rel) & 0xFFFF)


def test_unique_name_suffix_fits_255_bytes():
    long = "\u00e9" * 125 + ".mp4"            # 254 bytes in UTF-8
    new = unique_name(long, {long})
    assert new.endswith(" (2).mp4") and len(os.fsencode(new)) <= 255
    assert unique_name("a.mp4", {"a.mp4", "a (2).mp4"}) == "a (3).mp4"
    assert unique_name("noext", {"noext"}) == "noext (2)"


def test_plan_never_collides_inside_the_plan_or_with_existing_files(tmp_path):
    (tmp_path / "cluster-01").mkdir()
    (tmp_path / "cluster-01" / "a.mp4").write_bytes(b"existing")
    assignment = [(vf(tmp_path, "x/a.mp4"), "cluster-01"), (vf(tmp_path, "y/a.mp4"), "cluster-01"),
                  (vf(tmp_path, "z/a.mp4"), "cluster-02")]
    plan = build_plan(tmp_path, tmp_path, assignment, {})
    dsts = [m.dst for m in plan.moves]
    assert dsts == ["cluster-01/a (2).mp4", "cluster-01/a (3).mp4", "cluster-02/a.mp4"]


def test_files_already_in_their_cluster_folder_stay(tmp_path):
    plan = build_plan(tmp_path, tmp_path, [(vf(tmp_path, "cluster-01/a.mp4"), "cluster-01")], {})
    assert plan.moves == [] and plan.in_place == 1


def test_manifest_round_trip_and_version_check(tmp_path):
    plan = build_plan(tmp_path, tmp_path, [(vf(tmp_path, "b\udcff.mp4"), "cluster-01")], {"k": 1})
    again = parse_plan(plan.to_json())
    assert again.moves == plan.moves and again.root == str(tmp_path)
    with pytest.raises(ManifestError, match="version"):
        parse_plan(plan.to_json().replace('"version": 1', '"version": 9'))
    with pytest.raises(ManifestError, match="not a valid organize manifest"):
        parse_plan('{"version": 1}')


def blobs(k=3, per=5, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 5
    x = np.concatenate([c + rng.normal(size=(per, dim)) for c in centres])
    return x, np.repeat(np.arange(k), per)


def test_auto_finds_the_number_of_groups_and_is_deterministic():
    x, truth = blobs(4)
    a = VideoClusterer(None).fit(x)
    b = VideoClusterer(None).fit(x)
    assert a.n_clusters_ == 4 and (a.labels_ == b.labels_).all()
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, a.labels_) == 1.0


def test_more_clusters_than_videos_is_clamped_with_a_warning():
    x, _ = blobs(2, 2)
    c = VideoClusterer(10).fit(x)
    assert c.n_clusters_ == 4 and c.warnings_[0] == ("Asked for 10 clusters, but there are only 4 videos; making 4 "
                                                     "clusters, one per video.")
    assert "could be processed" not in " ".join(c.warnings_)


def test_labels_are_canonical_largest_first():
    x, _ = blobs(3, 4)
    x = np.concatenate([x, x[:4] + 0.01])     # make group 0 the largest
    c = VideoClusterer(3).fit(x)
    assert (c.labels_ == 0).sum() == 8


def test_cluster_names_are_safe_unique_and_fall_back_to_numbers():
    classes = ["kimono", "wig", "brown bear, bruin", "CON", "<img src=x onerror=alert(1)>", "../etc"]
    scores = [np.array([0.6, 0.3, 0.05, 0, 0.05, 0]), np.array([0.5, 0.4, 0.1, 0, 0, 0]),
              np.array([0, 0.1, 0.3, 0, 0.3, 0.3])]
    names = cluster_names(np.array([0, 0, 1]), scores, classes)
    assert names[0] == "01-kimono-wig"
    assert len(set(names)) == 2
    for n in names:
        assert n == safe_word(n, 99) and "/" not in n and ".." not in n and len(n) <= 48
    assert cluster_names(np.array([0, 1]), None, None) == ["cluster-01", "cluster-02"]
    assert cluster_names(np.array([0, 0, 1]), scores, classes, naming="index")[1] == "cluster-02"
