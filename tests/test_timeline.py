"""Timelines (analysis/timeline.py) and how copies are told from look-alikes with them (grouping/timeline.py)."""

from __future__ import annotations

import cv2
import numpy as np

from organizer.analysis.shots import Signal
from organizer.analysis.timeline import STEP, make_timeline
from organizer.grouping import timeline as tl

from .conftest import fast_settings, needs_models, write_video

SIDE = 64


def recording(seed: int, seconds: float, room: np.ndarray | None = None) -> np.ndarray:
    """(steps, 64, 64) grey frames every STEP seconds: a textured room (one per seed unless given) under a light
    that flickers a little, and a small bright ball that wanders through it."""
    rng = np.random.default_rng(seed)
    if room is None:
        room = cv2.resize(rng.uniform(40, 200, (6, 6)).astype(np.float32), (SIDE, SIDE),
                          interpolation=cv2.INTER_CUBIC)
    n = int(seconds / STEP)
    path = np.cumsum(rng.normal(0, 3.0, (n, 2)), 0) + SIDE / 2
    path = np.abs((path - 8) % (2 * (SIDE - 16)) - (SIDE - 16)) + 8        # bounce off the walls
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    frames = []
    gains = 1 + 0.08 * np.convolve(rng.normal(0, 1, n + 5), np.ones(6) / 6, "valid")[:n]     # smooth in time
    for (y, x), gain in zip(path, gains):
        frame = room * gain
        frame[(yy - y) ** 2 + (xx - x) ** 2 < 16] = 250
        frames.append(frame)
    return np.stack(frames)


def timeline(frames: np.ndarray, noise: float = 0.0, seed: int = 0, own=(), furniture=()) -> tl.Timeline:
    """The 16x16 timeline of 64x64 frames, as the decoder's signal would give it (with encoding noise)."""
    rng = np.random.default_rng(seed)
    small = np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in frames])
    small = small + rng.normal(0, noise, small.shape)
    return tl.Timeline(np.clip(small, 0, 255).round().astype(np.uint8).reshape(len(frames), -1), STEP, own,
                       furniture)


def cropped(frames: np.ndarray, keep: float) -> np.ndarray:
    size = round(SIDE * keep)
    start = (SIDE - size) // 2
    return np.stack([cv2.resize(f[start:start + size, start:start + size], (SIDE, SIDE),
                                interpolation=cv2.INTER_AREA) for f in frames])


def test_a_copy_is_the_same_video_whatever_was_done_to_it():
    original = recording(1, 30)
    n = len(original)
    copies = {"re-encoded": timeline(original, noise=1.5, seed=2),
              "mirrored": timeline(original[:, :, ::-1]),
              "cropped to 88 %": timeline(cropped(original, 0.88)),
              "mirrored and cropped to 90 %": timeline(cropped(original, 0.9)[:, :, ::-1]),
              "trimmed at the start": timeline(original[int(0.3 * n):]),
              "trimmed at the end": timeline(original[:int(0.7 * n)], noise=1.0)}
    source = timeline(original)
    for what, copy in copies.items():
        match = tl.compare(source, copy)
        assert match is not None and match.same, (what, match)
    assert tl.compare(source, copies["trimmed at the start"]).offset == int(0.3 * n) * STEP
    assert tl.compare(source, copies["mirrored"]).mirrored
    assert abs(tl.compare(source, copies["cropped to 88 %"]).zoom) > 1


def test_two_parts_of_one_recording_are_not_one_video():
    whole = recording(3, 60)
    first, later = timeline(whole[:80]), timeline(whole[120:200])
    match = tl.compare(first, later)
    assert match.looks >= tl.LOOKS, "the room is the same: only motion tells the parts apart"
    assert not match.same and match.windows > 0


def test_videos_that_share_only_an_intro_are_not_one_video():
    intro = recording(7, 4)
    room = cv2.resize(np.random.default_rng(9).uniform(40, 200, (6, 6)).astype(np.float32), (SIDE, SIDE),
                      interpolation=cv2.INTER_CUBIC)
    one = timeline(np.concatenate([intro, recording(8, 5, room)]))
    other = timeline(np.concatenate([intro, recording(10, 5, room)]))
    assert not tl.same(one, other)
    assert tl.same(one, timeline(np.concatenate([intro, recording(8, 5, room)]), noise=1.0))


def test_one_piece_moving_where_the_other_stands_still_is_a_disagreement():
    """Two pieces of a fixed-camera recording after one animated intro that was not found to be furniture: the
    intro moves alike in both; then a person crosses the room in one piece while the other stays empty. Before,
    a window where only one side moved said nothing, the intro's window agreed, and the pieces were one video
    (the office clip in the first held-out libraries)."""
    intro = recording(19, 2)
    room = recording(20, 1)[:1]
    empty = room.repeat(24, 0)
    crossing = empty.copy()
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    for k in range(8, 16):                                               # 2 s: someone walks across
        crossing[k][((xx - 8 * (k - 7)) ** 2 < 36) & (yy > 20)] = 20
    one, other = np.concatenate([intro, empty]), np.concatenate([intro, crossing])
    match = tl.compare(timeline(one), timeline(other, noise=0.5))
    assert match.looks >= tl.LOOKS, "the pictures alone agree"
    assert match.windows > match.agreeing >= 1 and not match.same
    assert tl.same(timeline(other), timeline(other, noise=1.0, seed=3)), "a copy moves where the original does"


def test_a_short_stretch_of_its_own_after_a_long_intro_is_judged():
    """Two videos of one length, a 4.25 s title card (known furniture) and then 2.5 s of two different moments of
    one room. Before, motion windows were laid every second from the start and left out where they touched the
    card, so no window fell inside the 2.5 s and the pictures alone made them one video."""
    card = np.full((17, SIDE, SIDE), 60.0)
    card[:, 24:40, 8:56] = 230
    whole = recording(21, 30)
    one, other = np.concatenate([card, whole[:10]]), np.concatenate([card, whole[60:70]])
    marks = {"own": (5.5,), "furniture": (1.0,)}
    match = tl.compare(timeline(one, **marks), timeline(other, **marks))
    assert match.looks >= tl.LOOKS and match.windows >= 1 and not match.same
    assert tl.same(timeline(one, **marks), timeline(one, noise=1.0, **marks))


def test_a_still_picture_is_judged_by_its_look():
    still = recording(11, 10)[:1].repeat(40, 0)
    other = recording(12, 10)[:1].repeat(40, 0)
    assert tl.same(timeline(still), timeline(still, noise=0.5))
    assert not tl.same(timeline(still), timeline(other))


def test_timelines_stepped_differently_are_compared_on_the_coarser_step():
    original = recording(13, 20)
    coarse = tl.Timeline(timeline(original).rows[1::2], 2 * STEP)
    assert tl.same(coarse, timeline(original[10:], noise=1.0))


def test_a_blank_video_is_never_judged():
    black = tl.Timeline(np.zeros((40, 256), np.uint8), STEP)
    assert tl.compare(black, black) is None and not tl.same(black, black)


def test_the_timeline_is_the_signal_frame_nearest_each_step_and_blank_where_the_decoder_seeked():
    frames = np.array(list(range(0, 50, 2)) + list(range(200, 250, 2)))       # 25 fps; seeked from 2 s to 8 s
    luma = (frames[:, None, None] % 256 * np.ones((1, 16, 16))).astype(np.uint8)
    rows, step = make_timeline(Signal(frames, luma, 25.0), 10.0)
    assert step == STEP and rows.shape == (40, 256)
    middles = (np.arange(40) + 0.5) * STEP * 25
    seen = rows[:, 0].astype(int)
    assert all(seen[k] == 0 for k in range(9, 31))                  # 2.25-7.75 s: nothing decoded near
    for k in list(range(8)) + list(range(33, 39)):
        assert abs(seen[k] - middles[k]) <= 1, k
    assert make_timeline(None, 10.0) == (None, 0.0)


def test_a_long_video_is_stepped_more_coarsely():
    frames = np.arange(0, 25 * 600, 5)
    luma = np.zeros((len(frames), 16, 16), np.uint8)
    rows, step = make_timeline(Signal(frames, luma, 25.0), 600.0)
    assert len(rows) == 960 and step == 600.0 / 960


def test_a_copy_that_is_nearly_all_intro_must_agree_where_it_shows_its_own_picture():
    intro = recording(14, 7)
    own, another = recording(15, 1)[:1].repeat(5, 0), recording(16, 1)[:1].repeat(5, 0)
    frames, others = np.concatenate([intro, own]), np.concatenate([intro, another])
    match = tl.compare(timeline(frames), timeline(others))
    assert match.looks >= tl.LOOKS and match.agreeing == match.windows, "85 % of it is the shared intro"
    assert not tl.same(timeline(frames, own=(7.5,)), timeline(others, own=(7.5,)))
    assert tl.same(timeline(frames, own=(7.5,)), timeline(frames, noise=1.0, own=(7.5,)))


def test_the_cut_out_of_a_shared_intro_is_no_evidence_of_motion():
    """Two pieces of a still room after one title card: the cut from the card into the room is at the same moment
    in both, and looks like motion that agrees; in the card's shot it is not counted."""
    card = np.full((16, SIDE, SIDE), 60.0)
    card[:, 24:40, 8:56] = 230                                          # a title on a plain card, 4 s
    room = recording(17, 1)[:1]
    piece = np.concatenate([card, room.repeat(24, 0)])
    later = np.concatenate([card, (room * 0.97).repeat(24, 0)])         # the light a little lower later on
    assert tl.same(timeline(piece), timeline(later, noise=0.3)), "the cut alone agrees"
    match = tl.compare(timeline(piece, own=(6.0,), furniture=(1.0,)), timeline(later, own=(6.0,), furniture=(1.0,)))
    assert match.windows == 0


def sting(steps: int = 16) -> np.ndarray:
    """An animated logo sting: a bright logo that jumps and grows over a gradient, too fast for one shot to the
    rule of SHOT (0.25-0.8 from step to step, like make_library's style a sting), the background shared."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    frames = []
    for k in range(steps):
        frame = 20.0 + xx * 2.5
        y, x, r = 14 + (k * 23) % 36, 12 + (k * 37) % 40, 5 + (k % 4) * 3
        frame[(np.abs(yy - y) < r) & (np.abs(xx - x) < r)] = 250
        frames.append(frame)
    return np.stack(frames)


def test_the_motion_of_a_shared_animated_sting_is_no_evidence():
    """Two moments of one still room, one 6 s and the other 4 s, after one uploader's animated sting (its keyframe,
    at 0.5 s, known furniture). Before, only the second around that keyframe was left out, the rest of the sting
    moved alike in both, and the shorter one passed for a trimmed copy of the longer (a signer in the second
    held-out set)."""
    intro, room = sting(), recording(23, 1)[:1]
    one = timeline(np.concatenate([intro, room.repeat(24, 0)]), own=(6.0,), furniture=(0.5,))
    other = timeline(np.concatenate([intro, (room * 0.98).repeat(16, 0)]), noise=0.3, own=(6.0,), furniture=(0.5,))
    u = one.rows[:17].astype(float) - one.rows[:17].mean(1, keepdims=True)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    assert ((u[1:] * u[:-1]).sum(1)[:15] < tl.SHOT).sum() >= 3, "the sting is no one shot"
    match = tl.compare(other, one)
    assert match.looks >= tl.LOOKS and match.windows == 0, match
    assert tl.furniture_steps(one.rows, STEP, one.furniture, one.own)[:16].all()
    assert not tl.furniture_steps(one.rows, STEP, one.furniture, one.own)[16:].any()
    outro = timeline(np.concatenate([room.repeat(24, 0), intro]), own=(2.0,), furniture=(9.5,))
    assert tl.furniture_steps(outro.rows, STEP, outro.furniture, outro.own)[24:].all()
    assert not tl.furniture_steps(outro.rows, STEP, outro.furniture, outro.own)[:24].any()


def test_furniture_steps_are_the_shot_of_the_furniture_moment():
    card = np.full((16, SIDE, SIDE), 60.0)
    card[:, 24:40, 8:56] = 230
    rows = timeline(np.concatenate([card, recording(18, 6)])).rows
    steps = tl.furniture_steps(rows, STEP, (1.0,))
    assert steps[:16].all() and not steps[17:].any()
    assert not tl.furniture_steps(rows, STEP, ()).any()


@needs_models
def test_a_run_keeps_timelines_in_the_state_not_in_memory(tmp_path):
    """A first run over a large library would hold every timeline (about 1 KB per second of video) until the
    end; each is stored as it arrives and read back only for candidate copies."""
    from organizer.pipeline import ResolvedRun, organize
    from organizer.store.state import LibraryState

    for i in range(3):
        write_video(tmp_path / "lib" / f"v{i}.mp4", [i, i + 1], seconds_each=2.0, seed=i)
    run = ResolvedRun.of(fast_settings(clusters="2"))
    with LibraryState.open(tmp_path / "state") as state:
        planned = organize(tmp_path / "lib", run, state=state)
        stored = state.timelines([r.fingerprint for r in planned.results], run.key)
    assert len(planned.results) == 3 and all(r.analysis.timeline is None for r in planned.results)
    assert sorted(stored) == sorted(r.fingerprint for r in planned.results)
    assert all(len(rows) == 16 and step == STEP for rows, step in stored.values())


def test_a_keyframe_just_after_a_cut_is_judged_on_the_step_after_it_too():
    """A copy trimmed 2.25 s into a video that opens on a 4 s title card, its sampling grid half a step later: its
    step at 1.5 s already shows the room, and its own keyframe (1.6 s) falls there, where the original still shows
    the card's last frame. The step after it agrees (a trimmed copy in tune library b3 was lost on this). The step
    before, in the card's shot, never stands in: another room after that card stays another video."""
    card = np.full((16, SIDE, SIDE), 60.0)
    card[:, 24:40, 8:56] = 230
    whole = np.concatenate([card, recording(31, 6)])
    copy = whole[9:].copy()
    copy[6] = whole[16]
    original = timeline(whole, own=(5.0,), furniture=(1.0,))
    match = tl.compare(timeline(copy, noise=1.0, own=(1.6,), furniture=(0.5,)), original)
    assert match.offset == 9 * STEP and match.same, match
    another = timeline(np.concatenate([card, recording(32, 1)[:3]]), own=(4.0,), furniture=(1.0,))
    match = tl.compare(another, original)
    assert match.looks >= tl.LOOKS and match.windows == 0 and not match.same, match


def test_faint_motion_that_disagrees_is_noise_not_evidence(monkeypatch):
    """A shot that ends on 4 s of a nearly still picture (a shimmer of 1.5 grey levels), and a copy re-encoded with
    as much noise: in the still stretch the two motions are mostly noise and correlate below AGREE. Before, that
    window was a disagreement and the copy was lost (a crop of Big Buck Bunny in tune library b3: RMS 1.3-1.9,
    0.47-0.56); faint motion now decides only when it agrees. Strong motion that disagrees still decides."""
    rng = np.random.default_rng(5)
    moving = recording(41, 6)
    shimmer = np.stack([cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (SIDE, SIDE)) for _ in range(16)])
    frames = np.concatenate([moving, moving[-1:].repeat(16, 0) + 1.5 * shimmer])
    original, copy = timeline(frames), timeline(frames, noise=1.5, seed=3)
    match = tl.compare(copy, original)
    assert match.same and match.windows >= 6, match
    monkeypatch.setattr(tl, "FAINT", 0.0)
    assert not tl.compare(copy, original).same, "a faint window disagrees: the test must exercise the rule"
    monkeypatch.undo()
    other = timeline(np.concatenate([recording(42, 6), moving[-1:].repeat(16, 0) + 1.5 * shimmer]))
    assert not tl.same(other, original)
    # A nearly still piece: a trimmed copy's faint motion agrees and decides (a trimmed copy needs a window that
    # decides, grouping/reposts.py); another moment of that still scene shimmers otherwise and decides nothing.
    still = np.stack([cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (SIDE, SIDE)) for _ in range(40)])
    piece = moving[-1:].repeat(40, 0) + 2.0 * still
    trimmed = tl.compare(timeline(piece[10:], noise=0.5, seed=4), timeline(piece))
    assert trimmed.same and trimmed.windows >= 1, trimmed
    later = moving[-1:].repeat(30, 0) + 2.0 * np.stack([cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32),
                                                                   (SIDE, SIDE)) for _ in range(30)])
    assert tl.compare(timeline(later, noise=0.5, seed=4), timeline(piece)).windows == 0


def chain(correlations, seed: int = 0) -> np.ndarray:
    """uint8 rows (16x16 images) whose centred pictures correlate from each step to the next exactly as given."""
    rng = np.random.default_rng(seed)

    def unit(v):
        v = v - v.mean()
        return v / np.linalg.norm(v)
    u = [unit(rng.normal(size=256))]
    for c in correlations:
        w = unit(rng.normal(size=256))
        w = unit(w - (w @ u[-1]) * u[-1])
        u.append(c * u[-1] + np.sqrt(1 - c ** 2) * w)
    return np.clip(128 + 40 * np.stack(u), 0, 255).round().astype(np.uint8)


def test_an_intro_runs_to_the_last_of_its_sharpest_changes_and_an_end_card_from_the_first():
    """An animated sting changes inside (0.17 from one step to the next) nearly as sharply as at its cut into the
    video (0.21). Cut at the sharpest change, the intro's last second counted as the video's own, and in two
    uploaders' videos with that kind of sting the cut, at one moment in both, agreed as motion (report-half seed
    83 of bench/make_library.py). The end card mirrors it: it starts at the first of the sharpest changes."""
    going = [0.9] * 8 + [0.17] + [0.9] * 6 + [0.21] + [0.95] * 10 + [0.4] + [0.95] * 3 + [0.25] + [0.9] * 3 + [0.2] + \
        [0.9] * 3
    rows = chain(going)                       # the cuts: 15 -> 16 into the video, 30 -> 31 into the end card
    steps = tl.furniture_steps(rows, STEP, (0.5, 9.5), (6.5,))
    assert steps[:16].all() and not steps[16:31].any() and steps[31:].all(), steps.astype(int)
    sharpest = tl.furniture_steps(rows, STEP, (0.5, 9.5), (6.5,), tie=0.0)
    assert not sharpest[9:16].any() and not sharpest[31:35].any(), "the test must tell the rules apart"


def test_one_side_still_while_the_other_moves_disagrees_however_they_correlate():
    """A person crosses one piece of a fixed-camera room (RMS motion over 3); the other piece stands nearly still,
    and its faint flicker (under 1) happened to correlate with that motion (0.63 for two pieces of the office clip
    in report-half seed 80's clean twin). A copy does not keep a sixth of the motion: that is a disagreement."""
    room = recording(20, 1)[:1].repeat(24, 0)
    crossing = room.copy()
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    for k in range(8, 16):
        crossing[k][((xx - 8 * (k - 7)) ** 2 < 36) & (yy > 20)] = 20
    faint = room + 0.05 * (crossing - room)                # the same pattern, a faint echo of it
    match = tl.compare(timeline(faint), timeline(crossing))
    assert match.looks >= tl.LOOKS and match.windows >= 1 and match.agreeing < match.windows, match
    assert tl.same(timeline(crossing), timeline(crossing, noise=1.0, seed=3))


def test_with_nothing_moving_the_pictures_must_agree_closer():
    """Two moments of a still room, the light a little different across it, at one length: nothing moves, so no
    window tells them apart, and their pictures agree at 0.89, above LOOKS. Before, they were one video (two pieces
    of the office in report-half seed 94, 0.87-0.91). A copy of a still scene is the same frames, give or take
    encoding noise (0.999 here, 0.93-0.9999 on the generated libraries): without motion the pictures must reach
    STILL_LOOKS."""
    room = recording(51, 1)[:1].repeat(26, 0)
    light = cv2.resize(np.random.default_rng(2).normal(0, 1, (3, 3)).astype(np.float32), (SIDE, SIDE),
                       interpolation=cv2.INTER_CUBIC)
    match = tl.compare(timeline(room + 20 * light, noise=0.5, seed=1), timeline(room))
    assert match.windows == 0 and tl.LOOKS <= match.looks < tl.STILL_LOOKS and not match.same, match
    assert tl.same(timeline(room, noise=0.8, seed=2), timeline(room))
