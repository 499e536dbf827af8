"""Keyframe selection edge cases on generated videos with real (MobileNet) and random (InceptionV3) features."""

import cv2
import numpy as np
import pytest

from organizer.analysis.video import AnalysisParams
from organizer.config import Settings
from organizer.analysis.decode import sample_video
from organizer.features import FeatureSpec, embed_frames, load_backend
from organizer.analysis.keyframes import KeyframeSelector, measure, transition_frames

from .conftest import fast_settings, needs_models, scene_image


def select(path, settings, fps=2.0):
    s = sample_video(path, fps=fps, max_frames=64, min_frames=3)
    backend = load_backend(FeatureSpec.from_settings(settings))
    feats = embed_frames(backend, s.frames, 32).features
    return AnalysisParams.from_settings(settings).selector().fit(feats, s.frames, s.times), s


BACKENDS = [pytest.param(fast_settings(), id="mobilenet", marks=needs_models),
            pytest.param(Settings(features_weights="random"), id="random-inception", marks=pytest.mark.slow)]


@pytest.mark.parametrize("settings", BACKENDS)
def test_static_video_gives_one_keyframe(make_video, settings):
    sel, _ = select(make_video("static.mp4", [4], seconds_each=6.0), settings)
    assert sel.n_keyframes_ == 1


@pytest.mark.parametrize("settings", BACKENDS)
def test_two_scene_alternating_video_gives_two(make_video, settings):
    sel, s = select(make_video("alt.mp4", [1, 2, 1, 2, 1, 2], seconds_each=1.5), settings)
    assert sel.n_keyframes_ == 2
    firsts = {round(float(s.frames[i][5, 5, 0]), -1) for i in sel.keyframe_indices_}
    assert len(firsts) == 2   # one from each scene


@pytest.mark.parametrize("settings", BACKENDS)
@pytest.mark.parametrize("order", [[1, 2, 3, 4], [3, 1, 4, 1, 2, 3, 4, 2]])
def test_m_scenes_in_any_order_give_m(make_video, settings, order):
    sel, _ = select(make_video("m.mp4", order, seconds_each=1.5), settings)
    assert sel.n_keyframes_ == 4


@needs_models
def test_one_frame_video(make_video):
    sel, s = select(make_video("one.mp4", [5], seconds_each=0.1, fps=10), fast_settings())
    assert len(s.frames) == 1 and sel.keyframe_indices_ == [0]


@needs_models
def test_clip_shorter_than_a_second(make_video):
    sel, s = select(make_video("short.mp4", [6], seconds_each=0.6, fps=10), fast_settings(), fps=1.0)
    assert len(s.frames) == 3 and sel.n_keyframes_ == 1


@needs_models
def test_all_black_video_keeps_one_frame(make_video):
    black = np.zeros((120, 160, 3), np.uint8)
    sel, _ = select(make_video("black.mp4", [black], seconds_each=4.0, noise=0.5), fast_settings())
    assert sel.n_keyframes_ == 1
    assert sel.dropped_["kept_best_of_bad"] == 1


@needs_models
def test_dark_and_blank_frames_are_never_keyframes(make_video):
    black = np.zeros((120, 160, 3), np.uint8)
    grey = np.full((120, 160, 3), 128, np.uint8)
    sel, s = select(make_video("mixed.mp4", [black, 1, grey, 2, black], seconds_each=1.5, noise=0.5),
                    fast_settings())
    assert sel.n_keyframes_ == 2
    for i in sel.keyframe_indices_:
        assert s.frames[i].mean() > 20 and s.frames[i].std() > 10


def test_blurred_frame_gate_prefers_the_sharp_one():
    sharp = scene_image(3, (320, 240))
    import cv2
    blurred = cv2.GaussianBlur(sharp, (31, 31), 12)
    frames = [sharp, blurred, sharp, blurred, sharp]
    feats = np.ones((5, 8), np.float32) + np.random.default_rng(0).normal(0, 1e-4, (5, 8))
    sel = KeyframeSelector().fit(feats, frames, list(range(5)))
    assert sel.dropped_.get("blurred") == 2
    assert sel.keyframe_indices_[0] in (0, 2, 4)


def test_dissolve_frame_is_detected_as_transition():
    a, b = scene_image(1, (160, 120)).astype(np.float32), scene_image(2, (160, 120)).astype(np.float32)
    mid = (0.5 * a + 0.5 * b).astype(np.uint8)
    frames = [a.astype(np.uint8), a.astype(np.uint8), mid, b.astype(np.uint8), b.astype(np.uint8)]
    flags = transition_frames(measure(frames).thumbs, 0.35)
    assert flags.tolist() == [False, False, True, False, False]


def test_video_vector_is_unit_length():
    frames = [scene_image(i) for i in (1, 1, 2, 2)]
    feats = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    sel = KeyframeSelector().fit(feats, frames)
    assert np.linalg.norm(sel.vector_) == pytest.approx(1.0, abs=1e-5)


def test_a_transition_that_joins_a_picture_to_itself_does_not_split_the_shot():
    """Issue 24, item 13: fog drifting over the Sintel trailer's pan was taken for a dissolve, which cut one moving
    shot in two, and each half kept a keyframe. A stretch whose two sides look alike joined nothing."""
    from organizer.analysis.shots import CLEAR, TRANSITION, _same_sides

    rng = np.random.default_rng(0)
    a, b = rng.random(256).astype(np.float32), rng.random(256).astype(np.float32)
    y = np.stack([a, a, a * 0.5 + b * 0.5, a * 0.6 + b * 0.4, a + 0.01, a, b])
    labels = np.array([CLEAR, CLEAR, TRANSITION, TRANSITION, CLEAR, CLEAR, CLEAR])
    cut, contiguous = np.zeros(7, bool), np.ones(7, bool)
    assert _same_sides(y, labels, cut, contiguous, 1, 4)                 # A ... A: one shot goes on
    assert not _same_sides(y, labels, cut, contiguous, 1, 6)             # A ... B: a transition (labels aside)
    y[4] = b
    assert not _same_sides(y, labels, cut, contiguous, 1, 4)             # A ... B
    y[4] = a
    cut[3] = True
    assert not _same_sides(y, labels, cut, contiguous, 1, 4)             # a cut inside: two shots


@needs_models
def test_a_long_fixed_shot_where_things_come_and_go_shows_each_picture(tmp_path):
    """Issue 24, item 13: a 139 s fixed camera with people walking through gave one keyframe: a shot was always one
    picture. A shot of LONG_SHOT seconds or more shows the pictures its frames form; a short one stays one."""
    from .conftest import write_video

    room = scene_image(4, (160, 120))

    def walk(k: int, hold: int) -> list:
        """Someone different walks in from the left, stands a while, and walks out (no cut anywhere)."""
        person = scene_image(10 + k, (160, 120))[30:110, 40:80]
        steps = []
        for x in list(range(-40, 60, 4)) + [60] * hold + list(range(60, 170, 4)):
            frame = room.copy()
            lo, hi = max(0, x), min(160, x + 40)
            if hi > lo:
                frame[30:110, lo:hi] = person[:, lo - x:hi - x]
            steps.append(frame)
        return steps

    long = write_video(tmp_path / "long.mp4", [room] * 30 + walk(0, 30) + [room] * 30 + walk(1, 30) + [room] * 30
                       + walk(2, 30) + [room] * 30, seconds_each=0.1, noise=1.0)
    short = write_video(tmp_path / "short.mp4", [room] * 10 + walk(0, 5) + [room] * 10, seconds_each=0.1, noise=1.0)
    settings = fast_settings()
    params, backend = AnalysisParams.from_settings(settings), load_backend(FeatureSpec.from_settings(settings))
    from organizer.analysis.video import analyse_video
    long_kf = analyse_video(str(long), params, backend).keyframes
    assert len(long_kf.times) >= 3, long_kf.times
    assert len(analyse_video(str(short), params, backend).keyframes.times) <= len(long_kf.times)


@needs_models
def test_a_shot_of_flat_colour_between_an_intro_and_an_end_card_keeps_a_keyframe(tmp_path):
    """Issue 25: a clip of flat colour slides (moviepy's test video) between an uploader's intro and end card lost
    its only picture: its frames fail the near-solid gate, the intro and the card pass it, and the video showed
    only its furniture (alone, the clip keeps its best frame). A shot whose every frame fails on its looks keeps
    its best one; a blank frame is still never a keyframe."""
    from .conftest import write_video

    flat = np.zeros((120, 160, 3), np.uint8)
    flat[:] = (40, 120, 150)
    flat[30:90, 40:120] = (70, 150, 180)                     # a slide: two colours, little contrast, not blank
    path = write_video(tmp_path / "slides.mp4", [scene_image(1, (160, 120)), flat, scene_image(7, (160, 120))],
                       seconds_each=3.0, noise=0.5)
    settings = fast_settings()
    params, backend = AnalysisParams.from_settings(settings), load_backend(FeatureSpec.from_settings(settings))
    from organizer.analysis.video import analyse_video
    times = analyse_video(str(path), params, backend).keyframes.times
    assert any(3.0 < t < 6.0 for t in times), times
    assert len(times) == 3, times


def test_a_flat_part_split_into_one_sample_shots_still_keeps_its_best_frame():
    """Issue 26 round three: an aeroplane in an empty sky (flat: every frame fails the near-solid gate) zooms out
    once, which the signal reads as a quiet step, so its one shot of three samples became two shots of one sample
    each with a transition sample between them; the shot rule wants two samples, and the video (its intro and
    end card passing the gates) kept only its furniture. The piece between two cuts is a part too: its clear
    shots' samples together keep their best one. Two shots in two pieces, a sample each, stay a frame coming out
    of black each (none kept)."""
    from organizer.analysis.parts import own_parts

    usable, score = np.ones(5, bool), np.array([1.0, 3.0, 2.0, 5.0, 1.0])
    keep = np.array([True, False, False, False, True])                  # the intro and the end card
    excluded = ["", "", "transition", "", ""]
    shots, times = [0, 1, -1, 2, 3], [0.5, 4.6, 5.6, 6.7, 7.7]
    assert own_parts(keep, usable, score, excluded, shots, times, pieces=[0, 1, 1, 1, 2]) == [3]
    assert own_parts(keep, usable, score, excluded, shots, times, pieces=[0, 1, 1, 2, 3]) == []
    assert own_parts(keep, usable, score, excluded, shots, times) == [], "without pieces, left alone"


def test_a_piece_read_whole_as_a_long_transition_keeps_its_best_frame():
    """Issue 25: a 2.4 s piece of an old film between two cuts (no intro before it, an end card after) was read as
    a dissolve from end to end; with the card passing the gates the video showed only its card. A run of samples
    read as a transition for LONG_TRANSITION s that fills a piece keeps its best frame; a real dissolve, which
    sits inside the piece of the shots it joins, or a short run, keeps none."""
    from organizer.analysis.parts import own_parts

    usable, score = np.ones(4, bool), np.array([1.0, 2.0, 1.0, 1.0])
    keep = np.array([False, False, True, True])
    excluded = ["transition", "transition", "", ""]
    shots, times = [-1, -1, 0, 0], [0.5, 1.5, 2.5, 3.5]
    assert own_parts(keep, usable, score, excluded, shots, times, pieces=[0, 0, 1, 1]) == [1], "the better one"
    assert own_parts(keep, usable, score, excluded, shots, times, pieces=[0, 0, 0, 0]) == [], "a dissolve into a shot"
    assert own_parts(keep, usable, score, excluded, shots, [0.5, 1.0, 2.5, 3.5], pieces=[0, 0, 1, 1]) == []
    assert own_parts(keep, usable, score, excluded, shots, times) == [], "without pieces, left alone"
    assert own_parts(keep, np.array([True, False, True, True]), score, excluded, shots, times,
                     pieces=[0, 0, 1, 1]) == [0], "never a dark frame"


def test_a_blend_just_outside_a_transition_is_neither_the_blur_reference_nor_the_representative():
    """Issue 26 round three: a slow dissolve into a moving scene was read as a transition for only part of its
    length, so the first sample of the next shot was still a blend of the two pictures. A blend has the edges of
    both and reads far sharper than the moving scene's own frames: those were dropped as blurred against it, and
    it became the shot's keyframe (scored inside the transition). A frame within EDGE seconds of a transition is no
    blur reference, and in a unit of three frames or more it is not the representative."""
    from organizer.analysis.keyframes import EDGE

    size = (320, 240)
    moving = cv2.GaussianBlur(scene_image(3, size), (0, 0), 8).astype(np.float32)     # motion-blurred picture
    stripes = (np.indices((240, 320)).sum(0) % 8 < 4)[..., None].repeat(3, 2).astype(np.float32) * 255
    rng = np.random.default_rng(0)
    frames = [np.clip(0.9 * np.roll(moving, 16, axis=1) + 0.1 * stripes, 0, 255).astype(np.uint8)] + [
        np.clip(np.roll(moving, 8 * k, axis=1) + rng.normal(0, 1, moving.shape), 0, 255).astype(np.uint8)
        for k in (0, 4, 8)]                                   # the blend lies among the nearer half of the shot
    args = (frames, ["", "", "", ""], [0, 0, 0, 0], [4.5, 5.5, 6.5, 7.5], [0, 0, 0, 0])
    before = KeyframeSelector().prepare(*args)
    assert before.keep_.tolist() == [True, False, False, False], "the test needs a blend that reads sharpest"
    near = [0.2, 1.2, 2.2, EDGE + 0.1]
    selector = KeyframeSelector().prepare(*args, near_transition=near)
    assert selector.keep_.all(), selector.dropped_
    assert selector.reps_ != [0] and len(selector.reps_) == 1
    alone = KeyframeSelector().prepare(frames[:2], ["", ""], [0, 0], [4.5, 5.5], [0, 0], near_transition=near[:2])
    assert len(alone.reps_) == 1, "a unit of two keeps whichever is best"
