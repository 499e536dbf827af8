"""Keyframe selection edge cases on generated videos with real (MobileNet) and random (InceptionV3) features."""

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
