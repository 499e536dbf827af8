"""auto's max_distance is calibrated from the library's own distances (issue 25): plain vectors, then a real state."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from organizer.grouping.calibrate import FALLBACK, MIN_VIDEOS, calibrate
from organizer.grouping.placement import UNSORTED, Member, Rules, place, refreshed
from organizer.store.state import LibraryState
from organizer.types import ClusterSet

SPACE = "test:space"


def library(groups: int, per: int, spread: float, loners: int = 0, dim: int = 64, sub: int | None = None,
            seed: int = 0):
    """Groups of videos around random centres, and unrelated loners. `sub`: the centres lie in a subspace of that
    many dimensions (a compressed feature space, like random weights: unrelated videos are close too)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(sub or dim, dim)) if sub else np.eye(dim)
    centres = rng.normal(size=(groups + loners, sub or dim)) @ basis
    x = [centres[g] + spread * rng.normal(size=dim) for g in range(groups) for _ in range(per)]
    x += [centres[groups + i] for i in range(loners)]
    truth = [str(g) for g in range(groups) for _ in range(per)] + [f"alone{i}" for i in range(loners)]
    return np.array(x, np.float32), truth


def members_of(x):
    return [Member(f"v{i:03d}.mp4", f"fp{i}", v, None) for i, v in enumerate(x)]


@pytest.mark.parametrize("sub, spread", [(4, 0.05), (None, 0.3)])
def test_auto_finds_the_groups_whatever_the_scale_of_the_feature_space(sub, spread):
    """In a compressed space (unrelated videos 0.3-0.6 apart, as with random weights) the fixed 0.7 merged
    unrelated groups (ARI 0.51); calibrated, the groups are found there and in an ordinary space alike."""
    x, truth = library(groups=6, per=4, spread=spread, loners=6, sub=sub)
    p = place(members_of(x), ClusterSet(), Rules(), SPACE, None)
    found = [p.assigned[m.rel] if p.assigned[m.rel] != UNSORTED else f"u{i}" for i, m in enumerate(members_of(x))]
    assert adjusted_rand_score(truth, found) > 0.95, (sub, p.threshold)
    assert p.threshold.how == "calibrated" and "calibrated" in p.threshold.why


def test_a_few_large_groups_are_not_split():
    """Three groups of eight: related pairs are 30 % of all pairs, so a low quantile falls among them."""
    x, truth = library(groups=3, per=8, spread=0.5)
    p = place(members_of(x), ClusterSet(), Rules(), SPACE, None)
    assert adjusted_rand_score(truth, [p.assigned[m.rel] for m in members_of(x)]) == 1.0, p.threshold


def test_too_few_videos_use_the_fallback_and_say_so():
    x, _ = library(groups=2, per=2, spread=0.1, loners=MIN_VIDEOS - 5)
    t = calibrate(list(x), None)
    assert (t.value, t.how) == (FALLBACK, "default") and "too few" in t.why


def test_a_given_distance_wins_and_a_later_run_keeps_the_stored_one(tmp_path):
    x, truth = library(groups=4, per=4, spread=0.3, loners=4)
    members = members_of(x)
    assert place(members, ClusterSet(), Rules(max_distance=0.5), SPACE, None).threshold.how == "given"
    first = place(members, ClusterSet(), Rules(), SPACE, None)
    placed = [Member(m.rel, m.fingerprint, m.vector, first.assigned[m.rel]) for m in members]
    names = set(first.assigned.values()) - {UNSORTED}
    clusters, _ = refreshed(placed, names, ClusterSet(), SPACE, names, first.threshold.as_dict())
    with LibraryState.open(tmp_path / "state") as state:      # stored with the clusters, read back exactly
        state.save_clusters(clusters)
        stored = state.clusters()
    assert stored.max_distance == pytest.approx(first.threshold.value) and stored.max_distance_why
    newcomer = Member("new.mp4", "fpnew", x[0] + 0.01, None)
    later = place(placed + [newcomer], stored, Rules(), SPACE, None)
    assert later.mode == "assign" and later.threshold.how == "stored"
    assert later.threshold.value == pytest.approx(first.threshold.value)
    assert later.assigned["new.mp4"] == first.assigned[members[0].rel]
    given, _ = refreshed(placed, names, stored, SPACE, names, {"max_distance": 0.3, "chosen": "given", "why": ""})
    assert given.max_distance == stored.max_distance, "a distance given once does not replace the calibrated one"
