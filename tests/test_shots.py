"""How a video is edited (shots.py), and keyframes that follow the edit: real MP4s with dissolves, fades through
black, a white flash, a wipe and a fade-out, composed frame by frame with numpy and decoded by PyAV."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from organizer.analysis.video import AnalysisParams, analyse_video, sample
from organizer.config import Settings
from organizer.analysis.decode import sample_video
from organizer.features import FeatureSpec, load_backend, to_model_input
from organizer.analysis.keyframes import KeyframeSelector, measure
from organizer.vectors import l2n
from organizer.analysis.shots import BLANK, CLEAR, FADE, FLASH, TRANSITION, Edit, Signal, detect, missing_samples
from organizer.analysis.turns import turns

from .conftest import fast_settings, needs_models, scene_image, write_video

FPS = 25


def edited_frames() -> tuple[list[np.ndarray], list[str]]:
    """Scenes A B A C D with a dissolve, a fade through black, a 3-frame white flash, a wipe and a fade-out that
    stops at half brightness; returns the frames and, per frame, its scene or 'x' (not a clear picture)."""
    a, b, c, d = (scene_image(s).astype(np.float32) for s in (1, 2, 7, 9))   # pictures whose brightness differs
    frames, truth = [], []

    def hold(img, seconds, name):
        for _ in range(round(seconds * FPS)):
            frames.append(img)
            truth.append(name)

    def blend(x, y, n):
        for i in range(1, n + 1):
            frames.append((1 - i / (n + 1)) * x + i / (n + 1) * y)
            truth.append("x")

    hold(a, 2.2, "A")
    blend(a, b, 20)                       # a 0.8 s dissolve
    hold(b, 2.0, "B")
    blend(b, 0 * b, 10)                   # fade through black
    hold(0 * b, 0.2, "x")
    blend(0 * a, a, 10)
    hold(a, 1.6, "A")                     # A comes back
    hold(np.full_like(a, 250), 3 / FPS, "x")   # white flash
    hold(c, 2.0, "C")
    for i in range(1, 16):                # a left-to-right wipe
        img = c.copy()
        img[:, : round(img.shape[1] * i / 16)] = d[:, : round(img.shape[1] * i / 16)]
        frames.append(img)
        truth.append("x")
    hold(d, 2.0, "D")
    for i in range(1, 16):                # a fade-out that the video ends before it reaches black
        frames.append(d * (1 - 0.5 * i / 15))
        truth.append("x")
    return [np.clip(f, 0, 255).astype(np.uint8) for f in frames], truth


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    frames, truth = edited_frames()
    path = write_video(tmp_path_factory.mktemp("edit") / "edited.mp4", frames, seconds_each=1 / FPS, fps=FPS,
                       noise=2.0)
    return path, truth


def test_the_edit_is_read_from_the_cheap_signal(edited):
    path, truth = edited
    edit = detect(sample_video(path, 1.0, 64, 3).signal)
    labels = {int(n): int(label) for n, label in zip(edit.frames, edit.labels)}
    # The decoder stops after the last sampled frame: the signal covers frames up to it.
    scene = [labels[n] == CLEAR for n, t in enumerate(truth) if t != "x" and n in labels]
    between = [labels[n] != CLEAR for n, t in enumerate(truth) if t == "x" and n in labels]
    assert np.mean(scene) >= 0.85, "most frames of a held picture are clear"
    assert np.mean(between) >= 0.85, "most frames of dissolves, fades, flashes and wipes are not"
    flash = [n for n, t in enumerate(truth) if t == "x" and truth[n - 1] == "A" and truth[n + 3] == "C"]
    assert all(labels[n] in (FLASH, BLANK) for n in flash), "the white flash"
    fading = [labels[n] for n in range(len(truth) - 15, len(truth)) if n in labels]
    assert fading and all(x in (FADE, BLANK) for x in fading), "the fade-out, as far as the signal reaches"
    shots = {int(s) for s in edit.shots if s >= 0}
    assert len(shots) >= 5, "A, B, A again, C and D are separate shots"


def write_h264(path, frames: list[np.ndarray], fps: int = FPS, noise: float = 2.0):
    """The frames as H.264 with B-frames (x264's defaults), as phones and download sites write them."""
    import os
    import time

    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            noisy = np.clip(frame.astype(np.float32) + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24")))
        out.mux(stream.encode())
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


@pytest.fixture(scope="module")
def edited_h264(tmp_path_factory):
    frames, truth = edited_frames()
    return write_h264(tmp_path_factory.mktemp("edit") / "edited-h264.mp4", frames), truth


def test_the_edit_is_read_from_the_reference_frames_alone(edited_h264):
    """By default the decoder skips the frames no other frame refers to (B-frames): the signal has gaps of a frame
    or two, which must still read as one run of frames, with the same cuts, flashes, fades and transitions."""
    path, truth = edited_h264
    every = sample_video(path, 1.0, 64, 3, all_frames=True).signal
    skipping = sample_video(path, 1.0, 64, 3, all_frames=False)
    assert len(skipping.signal.frames) < 0.8 * len(every.frames), "B-frames are skipped, not decoded"
    assert set(skipping.indices) <= set(skipping.signal.frames.tolist()), "samples are decoded frames"
    edit = detect(skipping.signal)
    labels = {int(n): int(label) for n, label in zip(edit.frames, edit.labels)}
    scene = [labels[n] == CLEAR for n, t in enumerate(truth) if t != "x" and n in labels]
    between = [labels[n] != CLEAR for n, t in enumerate(truth) if t == "x" and n in labels]
    assert np.mean(scene) >= 0.85 and np.mean(between) >= 0.85
    assert len({int(s) for s in edit.shots if s >= 0}) >= 5, "A, B, A again, C and D are separate shots"


@needs_models
def test_keyframes_from_h264_with_b_frames_skipped(edited_h264):
    path, truth = edited_h264
    settings = fast_settings()
    assert not settings.sampling_all_frames
    analysis = analyse_video(str(path), AnalysisParams.from_settings(settings),
                             load_backend(FeatureSpec.from_settings(settings)))
    assert sorted(check_keyframes(analysis, truth)) == ["A", "B", "C", "D"]


def check_keyframes(analysis, truth) -> list[str]:
    scenes = [truth[n] for n in analysis.keyframes.frame_numbers]
    assert "x" not in scenes, f"no keyframe inside a transition, flash or fade: {scenes}"
    return scenes


@pytest.mark.parametrize("settings", [pytest.param(fast_settings(), id="mobilenet", marks=needs_models),
                                      pytest.param(Settings(features_weights="random"), id="random-inception",
                                                   marks=pytest.mark.slow)])
def test_one_keyframe_per_scene_never_in_a_transition_and_returns_once(edited, settings):
    path, truth = edited
    params = AnalysisParams.from_settings(settings)
    analysis = analyse_video(str(path), params, load_backend(FeatureSpec.from_settings(settings)))
    scenes = check_keyframes(analysis, truth)
    assert sorted(scenes) == ["A", "B", "C", "D"], "every scene once; A, which comes back, once"


@needs_models
def test_the_cascade_sends_fewer_frames_and_keeps_the_models_own_features(edited):
    path, truth = edited
    results = {}
    for cascade in (True, False):      # the near-duplicate pre-filter off: every frame, or one per shot
        settings = fast_settings(features_cascade=cascade, features_reuse_below=0.0, sampling_fps=3.0)
        backend = load_backend(FeatureSpec.from_settings(settings))
        results[cascade] = analyse_video(str(path), AnalysisParams.from_settings(settings), backend)
    on, off = results[True], results[False]
    assert sorted(check_keyframes(on, truth)) == sorted(check_keyframes(off, truth))
    assert on.cnn_frames < off.cnn_frames and on.reused > off.reused, (on.cnn_frames, off.cnn_frames)
    # The video vector is the mean of the keyframes' own features, computed afresh here.
    sampled = sample(str(path), AnalysisParams.from_settings(fast_settings(features_reuse_below=0.0, sampling_fps=3.0)))
    frames = [sampled.frames[i] for i in on.keyframes.indices]
    own, _ = backend.embed(np.stack([to_model_input(f, backend.input_size) for f in frames]))
    assert float(l2n(l2n(own).mean(0)) @ on.vector) > 0.999


def test_a_short_scene_between_two_samples_gets_its_own_sample():
    # 25 fps; 1 fps sampling lands on frames 12, 37, 62, 87; a 1.2 s shot (frames 40-69)... is sampled at 62,
    # but the 0.8 s shot at frames 70-89 between transitions (labelled 1) holds only 87, which lies in a transition.
    frames = np.arange(120)
    labels = np.zeros(120, np.int8)
    labels[[38, 39, 85, 86, 87, 88, 89]] = 1
    shots = np.full(120, -1)
    shots[:38], shots[40:70], shots[70:85], shots[90:] = 0, 1, 2, 3
    edit = Edit(frames, labels, shots, cuts=1)
    extra = missing_samples(edit, [12, 37, 62, 87, 112], budget=5, fps=25)
    assert extra == [77], "the middle of the shot no clear sample fell in"
    assert missing_samples(edit, [12, 37, 62, 87, 112], budget=0, fps=25) == [], "within --max-frames"
    assert missing_samples(None, [0], budget=5) == [], "no signal, no extra samples"


def test_sampling_follows_the_edit(tmp_path):
    # A 0.7 s scene between two 2 s ones: 1 frame/s sampling (at 0.5, 1.5, 2.5 ... s) steps over it.
    frames = [scene_image(1)] * 50 + [scene_image(2)] * 18 + [scene_image(3)] * 50
    path = write_video(tmp_path / "short.mp4", frames, seconds_each=1 / FPS, fps=FPS)
    sampled = sample(str(path), AnalysisParams())
    inside = [n for n in sampled.indices if 50 <= n < 68]
    assert inside, f"an extra sample inside the short scene: {sampled.indices}"


def test_a_black_and_white_film_is_a_picture_and_a_solid_frame_is_not():
    luma = scene_image(5).mean(2, keepdims=True)
    grey = np.repeat((luma - luma.min()) / np.ptp(luma) * 255, 3, 2).astype(np.uint8)   # a black-and-white frame
    solid = np.full_like(grey, 128)
    q = measure([grey, solid])
    assert q.color_bins[0] <= 10, "few colours: the old gate would have called it blank"
    sel = KeyframeSelector().prepare([grey, grey, solid])
    assert sel.keep_.tolist() == [True, True, False] and sel.dropped_.get("blank") == 1


def _edit(changes: list[float]) -> Edit:
    """A shot of 4 frames (0.16 s at 25 frames/s) between two transitions, then a long shot."""
    labels = np.array([1, 1, 0, 0, 0, 0, 1, 1] + [0] * 20)
    shots = np.array([-1, -1, 0, 0, 0, 0, -1, -1] + [1] * 20)
    return Edit(np.arange(28), labels.astype(np.int8), shots, cuts=0,
                change=np.array([0, 0, 0] + changes + [0] * 21, np.float32))


def test_a_short_scene_between_two_transitions_gets_a_sample_when_it_holds_still():
    """Issue 26, class 3: a 0.4 s scene between two transitions keeps a 0.12-0.2 s clear middle: sampled when steady, not when
    it changes all along (the clear-looking middle of a wipe)."""
    assert missing_samples(_edit([0.0, 0.01, 0.0, 0.0]), [20], budget=5, fps=25) == [3]
    assert missing_samples(_edit([0.0, 0.08, 0.1, 0.0]), [20], budget=5, fps=25) == [], "a wipe's middle"
    assert missing_samples(_edit([0.0, 0.0, 0.0, 0.0]), [20], budget=5, fps=25, short_seconds=0.25) == []


def _small(scene: int) -> np.ndarray:
    return cv2.resize(scene_image(scene).mean(2), (16, 16), interpolation=cv2.INTER_AREA).astype(np.float64)


@pytest.mark.parametrize("hold", [1, 3, 4])
def test_a_scene_that_two_dissolves_leave_a_tenth_of_a_second_gets_a_sample(hold):
    """Issue 26, class 3, round four: a 0.4 s scene between two dissolves (make_edits_b.py) may keep only 1-3 clear
    frames, too few to be seen holding still; the picture's change turns there (towards it, then away), so it is
    sampled. Without the turn it is not (the rule before)."""
    rng = np.random.default_rng(0)
    a, x, b = _small(1), _small(7), _small(2)
    images = [a] * 45 + [(1 - i / 16) * a + i / 16 * x for i in range(1, 16)] + [x] * hold
    images += [(1 - i / 16) * x + i / 16 * b for i in range(1, 16)] + [b] * 45
    edit = detect(_signal([np.clip(i + rng.normal(0, 0.6, i.shape), 0, 255) for i in images]))
    inside = np.flatnonzero((edit.labels == CLEAR) & (edit.shots == 1))
    assert 1 <= len(inside) <= 3 and 45 + 12 <= inside[0] and inside[-1] < 45 + 15 + hold + 5, "a short clear middle"
    extra = missing_samples(edit, [20, 110], budget=5, fps=30)
    assert len(extra) == 1 and inside[0] <= extra[0] <= inside[-1], "sampled: the scene is there"
    assert missing_samples(replace(edit, turns=None), [20, 110], budget=5, fps=30) == []


def test_a_clear_moment_inside_one_dissolve_gets_no_sample():
    """The other side: three frames in the middle of one slow dissolve that the blend test left clear. The picture
    changes towards the second one all along (cosine near 1), so no sample lands in the dissolve."""
    a, b = _small(1) / 255, _small(2) / 255
    y = np.stack([a] * 20 + [(1 - i / 41) * a + i / 41 * b for i in range(1, 41)] + [b] * 20).reshape(80, -1)
    labels = np.full(80, TRANSITION, np.int8)
    labels[:20], labels[38:41], labels[60:] = CLEAR, CLEAR, CLEAR
    shots = np.full(80, -1)
    shots[:20], shots[38:41], shots[60:] = 0, 1, 2
    found = turns(y.astype(np.float32), labels == CLEAR, shots, np.ones(80, bool), 30.0, 0.12)
    assert set(found) == {1} and found[1] > 0.99
    edit = Edit(np.arange(80), labels, shots, cuts=0, turns=found)
    assert missing_samples(edit, [10, 70], budget=5, fps=30) == []
    assert missing_samples(replace(edit, turns={1: 0.0}), [10, 70], budget=5, fps=30) == [39], "a turn would be"


def _still(picture: np.ndarray, frames: int, rng, noise: float = 0.6) -> list[np.ndarray]:
    return [np.clip(picture + rng.normal(0, noise, picture.shape), 0, 255) for _ in range(frames)]


def _look_alikes(person: float = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 16x16 room and two look-alike pictures of it: the same framing, a different person (an 8x8 patch, +-person
    grey levels) in the middle. With 30 they differ by 0.059 (mean absolute, 0-1): under the 0.08 a cut needs and the
    0.06 of a dissolve; with 18 by 0.035, under the 0.04 below which a transition's two sides count as one picture."""
    room = cv2.resize(scene_image(3).mean(2), (16, 16), interpolation=cv2.INTER_AREA).astype(np.float64)
    one, two = room.copy(), room.copy()
    one[4:12, 4:12] += person
    two[4:12, 4:12] -= person
    return room, one, two


def _signal(images: list[np.ndarray], fps: float = 30.0) -> Signal:
    return Signal(np.arange(len(images)), np.stack(images).astype(np.uint8), fps)


@pytest.mark.parametrize("person, noise", [(30, 0.6), (18, 0.3)])
def test_a_faint_cut_or_dissolve_between_two_still_look_alikes_is_seen(person, noise):
    """Issue 26, class 4: two people filmed alike in one room, joined by a 0.6 s dissolve and then a cut, both too
    faint for the cut and dissolve tests on their own: the steps between still pictures split the shot in three.
    With the fainter pair the dissolve's two sides are also close enough to pass for one picture drifting."""
    rng = np.random.default_rng(0)
    room, one, two = _look_alikes(person)
    assert 0.03 < np.abs(one - two).mean() / 255 < 0.06
    images = _still(one, 60, rng, noise)
    images += [(1 - i / 19) * one + i / 19 * two for i in range(1, 19)]        # a 0.6 s dissolve
    images += _still(two, 60, rng, noise) + _still(one, 60, rng, noise)        # a cut back to the first
    edit = detect(_signal(images))
    shots = edit.shots
    assert len(set(shots[shots >= 0].tolist())) == 3, "one shot per picture"
    assert (edit.labels[66:72] != CLEAR).all(), "the middle of the dissolve is no picture"
    assert shots[30] != shots[110] != shots[170] and edit.cuts >= 1


def test_a_person_moving_in_a_still_room_is_one_shot():
    """The other side of the test above: a person who moves (the patch slides across, 0.5 pixel a frame) changes
    the picture as much over 0.2 s as across any moment, so nothing steps and the shot stays whole."""
    rng = np.random.default_rng(1)
    room, _, _ = _look_alikes()
    images = []
    for i in range(150):
        img = room.copy()
        x = 1 + (i // 2) % 10
        img[4:12, x:x + 6] += 30
        images.append(np.clip(img + rng.normal(0, 0.6, img.shape), 0, 255))
    edit = detect(_signal(images))
    assert edit.cuts == 0 and (edit.labels == CLEAR).all() and len(set(edit.shots.tolist())) == 1

