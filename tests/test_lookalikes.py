"""Issue 26, class 4: look-alike pictures (two people in one room, in the same framing) are two keyframes, while a
return of one picture is still one. Pixels cannot tell such pictures apart; the runs of features along the shots
can (organizer/analysis/runs.py). Frames and features are built by hand: no model, every number known."""

import numpy as np

from organizer.analysis import runs
from organizer.analysis.keyframes import KeyframeSelector
from organizer.vectors import l2n

from .conftest import scene_image


def _room_with(person: int, rng) -> np.ndarray:
    """One white room, one person standing in it: a small patch whose colours differ from person to person."""
    frame = np.full((120, 160, 3), 225, np.uint8)
    frame[20:40, 100:150] = (60, 90, 200)                           # a blue panel on the wall
    frame[45:95, 70:90] = (40, 40, 40) if person == 0 else (70, 60, 35)
    frame[30:45, 74:86] = (190, 150, 130)                           # a face
    return np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)


def _features(centre: np.ndarray, n: int, rng, wobble: float) -> np.ndarray:
    return l2n(centre + wobble * rng.normal(size=(n, len(centre))))


def _two_people(rng):
    """Features of two people, 0.75 apart in cosine (MobileNet v1 puts three signers in one room 0.70-0.77 apart)."""
    a = l2n(rng.normal(size=64))
    other = rng.normal(size=64)
    other = l2n(other - (other @ a) * a)
    return a, 0.75 * a + np.sqrt(1 - 0.75 ** 2) * other


def test_two_people_in_one_room_are_two_keyframes_and_a_return_is_one():
    rng = np.random.default_rng(3)
    people = [0, 0, 0, 1, 1, 1, 0, 0]                     # A A A | B B B | A A (a return of A)
    shots = [0, 0, 0, 1, 1, 1, 2, 2]
    frames = [_room_with(p, rng) for p in people]
    a, b = _two_people(rng)
    feats = np.concatenate([_features(a, 3, rng, 0.02), _features(b, 3, rng, 0.02), _features(a, 2, rng, 0.02)])
    sel = KeyframeSelector().prepare(frames, [""] * 8, shots, list(range(8)))
    q = sel.quality_
    assert sel._alike(0, 3), "the pixel rules take the two people for one picture (that is the trap)"
    assert q.mad[0, 3] < 0.12
    sel.fit(feats, frames, list(range(8)), [""] * 8, shots)
    chosen = {people[i] for i in sel.keyframe_indices_}
    assert sel.n_keyframes_ == 2 and chosen == {0, 1}, sel.keyframe_indices_


def test_a_missed_cut_between_two_people_splits_the_shot_by_its_features():
    """The 16x16 signal saw no cut between the two people (one shot A A B B): their own features split it."""
    rng = np.random.default_rng(4)
    people = [0, 0, 1, 1, 0]
    shots = [0, 0, 0, 0, 1]
    frames = [_room_with(p, rng) for p in people]
    a, b = _two_people(rng)
    feats = np.concatenate([_features(a, 2, rng, 0.02), _features(b, 2, rng, 0.02), _features(a, 1, rng, 0.02)])
    sel = KeyframeSelector().fit(feats, frames, list(range(5)), [""] * 5, shots)
    assert {people[i] for i in sel.keyframe_indices_} == {0, 1}, sel.keyframe_indices_
    assert sel.n_keyframes_ == 2


def test_wanted_asks_for_the_frames_of_look_alike_shots_only():
    """The cascade's second pass: two shots that agree in pixels and not in features send all their frames; a shot
    of a different scene sends nothing more."""
    rng = np.random.default_rng(5)
    frames = [_room_with(0, rng)] * 3 + [_room_with(1, rng)] * 3 + [scene_image(2)] * 2 + [scene_image(5)] * 2
    shots = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    sel = KeyframeSelector().prepare(frames, [""] * 10, shots, list(range(10)))
    a, b = _two_people(rng)
    c, d = (l2n(0.5 * a + 0.5 * l2n(rng.normal(size=64))) for _ in range(2))   # other scenes, as MobileNet has them
    shared = np.stack([a] * 3 + [b] * 3 + [c] * 2 + [d] * 2)          # the cascade: one row per shot
    assert sel.wanted(shared) == [0, 1, 2, 3, 4, 5]
    assert sel.wanted(np.stack([a] * 6 + [c] * 2 + [d] * 2)) == [], "features agree: nothing open"


def test_runs_agree_by_the_spread_of_each_shot():
    rng = np.random.default_rng(6)
    a, b = _two_people(rng)
    still_a, still_b = _features(a, 4, rng, 0.02), _features(b, 4, rng, 0.02)
    assert not runs.agree(still_a, still_b, None), "two still shots, each tight, 0.75 apart"
    assert runs.agree(still_a, _features(a, 3, rng, 0.02), None), "a return of a still shot"
    pan = l2n(np.stack([np.cos(t) * a + np.sin(t) * b for t in np.linspace(0, 1.2, 6)]))
    assert runs.agree(pan[:3], pan[2:], None), "a moving shot and its return overlap somewhere"
    assert not runs.agree(pan[:2], pan[4:], 0.99), "no overlap, a tight video: apart"
    assert not runs.agree(a[None], b[None], None), "nothing to compare with: MobileNet v1's usual spread stands in"
    assert runs.agree(a[None], l2n(a + 0.3 * b)[None], None), "a moment of the same shot, 0.96 close"
    assert not runs.agree(a[None], b[None], 0.95), "the video's typical spread stands in"
    loose = _features(a, 4, rng, 0.12)          # a shot that moves, or holds a missed cut: its frames 0.6-0.8 close
    assert runs.spread(loose) < 0.85 < runs.spread(still_b)
    assert not runs.agree(loose, still_b, None), "the tighter shot says what close means (issue 26)"
    assert [len(p) for p in runs.pictures(np.concatenate([still_a[:2], still_b[:2], still_a[2:3]]),
                                          np.arange(5), 0.95)] == [3, 2], "A A B B A: two pictures"

