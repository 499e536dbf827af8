"""Clustering a large library (scale.py): the same groups as the exact path, on vectors where the answer is known;
the threshold made small so that the tests stay quick (bench/bench_scale.py runs a million vectors)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from organizer.grouping import scale, space
from organizer.grouping.clustering import VideoClusterer
from organizer.grouping.space import library_mean, prepare
from organizer.vectors import l2n
from organizer.grouping.placement import Member, Rules, assign_new
from organizer.types import ClusterRow, ClusterSet


def library(n_per: int, k: int, dim: int = 96, seed: int = 0, spread: float = 0.35):
    """Non-negative CNN-like vectors: k directions plus noise and a shared component; labels are the truth."""
    rng = np.random.default_rng(seed)
    common = rng.random(dim) * 2
    centres = rng.random((k, dim)) ** 3 * 4
    labels = np.repeat(np.arange(k), n_per)
    x = common + centres[labels] + rng.normal(0, spread, (len(labels), dim))
    return np.maximum(x, 0).astype(np.float32), labels


def test_kmeans_over_the_threshold_finds_the_clusters_the_exact_path_finds():
    x, truth = library(60, 8)
    exact = VideoClusterer(8, random_state=0).fit(x)
    large = VideoClusterer(8, random_state=0, large=100).fit(x)
    assert "MiniBatchKMeans" in large.choice_ and "MiniBatchKMeans" not in exact.choice_
    assert adjusted_rand_score(truth, exact.labels_) == 1.0
    assert adjusted_rand_score(truth, large.labels_) == 1.0
    np.testing.assert_array_equal(large.labels_, exact.labels_)          # canonical numbering: the same names
    np.testing.assert_allclose(large.centroids_, exact.centroids_, atol=1e-5)
    np.testing.assert_allclose(large.mean_, exact.mean_, atol=1e-6)


def test_auto_over_the_threshold_finds_the_same_groups_and_leaves_the_loners():
    x, truth = library(50, 6, seed=3)
    rng = np.random.default_rng(9)
    loners = np.maximum(rng.random((5, x.shape[1])) ** 3 * 6, 0).astype(np.float32)   # one video each
    x = np.concatenate([x, loners])
    exact = VideoClusterer(None, random_state=0, max_distance=0.7).fit(x)
    large = VideoClusterer(None, random_state=0, max_distance=0.7, large=100).fit(x)
    assert exact.n_clusters_ == 6
    assert large.n_clusters_ == 6
    np.testing.assert_array_equal(large.labels_, exact.labels_)
    assert (large.labels_[-5:] == -1).all()


def test_the_canonical_numbering_is_by_size_then_first_member():
    labels = np.array([5, 2, 2, -1, 7, 7, 7, 5, 2, -1, 9])
    # sizes: 2 -> 3 (first at 1), 7 -> 3 (first at 4), 5 -> 2, 9 -> 1; -1 stays -1
    assert VideoClusterer._canonical(labels).tolist() == [2, 0, 0, -1, 1, 1, 1, 2, 0, -1, 3]
    assert VideoClusterer._canonical(np.array([-1, -1])).tolist() == [-1, -1]


def test_chunked_means_and_centroids_match_the_whole_array(monkeypatch):
    monkeypatch.setattr(space, "CHUNK", 7)                # slices read it when called: 7-row chunks
    x, truth = library(10, 3, dim=16)
    listed = list(x)
    np.testing.assert_allclose(library_mean(listed), l2n(x).mean(0), atol=1e-6)
    mean = library_mean(x)
    cents = scale.unit_centroids(listed, mean, truth, 4)       # label 3 has no member: a zero row
    p = prepare(x, mean)
    want = np.stack([l2n(p[truth == c].mean(0)) for c in range(3)])
    np.testing.assert_allclose(cents[:3], want, atol=1e-5)
    assert not cents[3].any()


def test_a_night_with_many_new_kinds_of_videos_opens_clusters_through_the_large_path(monkeypatch):
    """Thousands of new videos that no cluster takes are grouped without an n^2 linkage, as the exact path does."""
    x, truth = library(40, 7, seed=5)
    old, new = x[truth == 0], x[truth > 0]
    mean = library_mean(x)
    clusters = ClusterSet((ClusterRow("cluster-01", l2n(prepare(old, mean).mean(0)), len(old)),), mean, "s")
    members = [Member(f"a{i}", f"a{i}", v, "cluster-01") for i, v in enumerate(old)]
    members += [Member(f"n{i:03d}", f"n{i}", v, None) for i, v in enumerate(new)]
    folder_of = {m.rel: m.folder for m in members}
    rules = Rules(None, 0.7, "index", 0, 2)
    exact, _ = assign_new(members, folder_of, clusters, None, rules)
    monkeypatch.setattr(scale, "LARGE", 50)
    large, _ = assign_new(members, folder_of, clusters, None, rules)
    assert len(set(exact.values())) == 7
    assert large == exact


@pytest.mark.parametrize("n,size", [(10, 20), (1000, 20)])
def test_samples_are_seeded_sorted_and_all_when_small(n, size):
    a, b = scale.sample(n, size, 4), scale.sample(n, size, 4)
    np.testing.assert_array_equal(a, b)
    assert len(a) == min(n, size) and (np.diff(a) > 0).all()


def test_cluster_names_over_the_threshold_are_the_names_of_the_exact_path(monkeypatch):
    from organizer.grouping import names, space
    rng = np.random.default_rng(2)
    classes = [f"class{i}" for i in range(30)]
    labels = np.repeat(np.arange(5), 40)
    scores = [np.abs(rng.normal(0, 0.05, 30)).astype(np.float32) for _ in labels]
    for s, c in zip(scores, labels):
        s[c * 5:(c * 5) + 2] += 0.5                    # each cluster has its own two strong classes
    exact = names.cluster_names(labels, scores, classes)
    monkeypatch.setattr(names, "LARGE", 50)
    monkeypatch.setattr(space, "CHUNK", 16)
    assert names.cluster_names(labels, scores, classes) == exact
    assert exact[0] == "01-class0-class1" or exact[0] == "01-class1-class0"
