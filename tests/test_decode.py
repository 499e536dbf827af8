import os

import numpy as np
import pytest

from organizer.analysis.decode import frames_at, sample_times, sample_video
from organizer.features import to_model_input
from organizer.errors import VideoUnreadable

from .conftest import VIDEOS, needs_videos, write_video


def test_sample_times_rate_cap_and_minimum():
    assert len(sample_times(10, 1.0, 64, 3)) == 10
    assert len(sample_times(1000, 1.0, 64, 3)) == 64
    times = sample_times(0.5, 1.0, 64, 3)
    assert len(times) == 3 and all(0 < t < 0.5 for t in times)
    spread = sample_times(100, 1.0, 10, 3)
    assert spread[0] < 10 and spread[-1] > 90   # spread over the whole video


def test_model_input_keeps_aspect_ratio():
    wide = np.zeros((100, 400, 3), np.uint8)
    wide[:, 150:250] = 255          # a centred white square stays square after resize + crop
    out = to_model_input(wide, 50)
    assert out.shape == (50, 50, 3)
    assert out[:, :, 0].mean() == pytest.approx(255, abs=3)


def test_samples_generated_video(make_video):
    path = make_video("a.mp4", [1, 2, 3], seconds_each=2.0, fps=10)
    s = sample_video(path, fps=1.0, max_frames=64)
    assert s.decoder == "pyav"
    assert len(s.frames) == 6 and s.duration == pytest.approx(6.0, abs=0.2)
    assert s.frames[0].shape == (120, 160, 3)
    assert list(s.times) == sorted(s.times)


def test_frames_at_full_resolution(make_video):
    path = make_video("a.mp4", [1, 2], seconds_each=1.0, fps=10)
    s = frames_at(path, [3, 15])
    assert list(s.indices) == [3, 15]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"this is not a video at all" * 10, "cannot be opened"),
])
def test_bad_files_raise_with_reason(tmp_path, content, message):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(VideoUnreadable, match=message):
        sample_video(p)


def test_truncated_file(tmp_path, make_video):
    good = make_video("good.mp4", [1, 2, 3], seconds_each=1.0)
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoUnreadable):
        sample_video(bad)


def test_opencv_reads_what_pyav_refuses(make_video, monkeypatch):
    from organizer.analysis import decode_av

    def refuse(*a, **k):
        raise VideoUnreadable("cannot be opened as a video (pretend)")
    path = make_video("a.mp4", [1, 2], seconds_each=1.0)
    monkeypatch.setattr(decode_av, "decode", refuse)
    s = sample_video(path)
    assert s.decoder == "opencv" and len(s.frames) >= 2


@needs_videos
@pytest.mark.parametrize("name, frames", [
    ("moviepy__clip1024.flv", 17),                          # VP6 FLV, 112x80
    ("moviepy__big_buck_bunny_432_433.webm", 3),           # VP8 WebM, 1 s
    ("intel__one-by-one-person-detection.mp4", 64),        # 139 s: capped, spread over the clip
    ("intel__asl_eat.mkv", 3),                              # MKV
])
def test_real_awkward_clips(name, frames):
    s = sample_video(VIDEOS / name)
    assert len(s.frames) == frames
    assert min(s.frames[0].shape[:2]) <= 320
    if name.startswith("intel__one"):
        assert s.times[-1] > 130


def test_seeking_to_sparse_samples_gives_the_same_frames(tmp_path):
    from organizer.analysis.decode import sample_video
    path = write_video(tmp_path / "long.mp4", list(range(30)), seconds_each=1.0, fps=10, noise=0)
    seek = sample_video(path, fps=1, max_frames=4, seek_seconds=2.0)          # samples ~7.5 s apart: seeks
    assert seek.seeks == 4
    grab = sample_video(path, fps=1, max_frames=4, seek_seconds=0)            # grabs every frame
    assert grab.seeks == 0
    assert seek.indices == grab.indices and len(seek.indices) == 4
    for a, b in zip(seek.frames, grab.frames):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0


def test_a_link_swapped_in_for_a_video_is_never_followed(make_video, tmp_path):
    real = make_video("real.mp4", [1, 2], seconds_each=1.0)
    os.symlink(real, tmp_path / "link.mp4")
    with pytest.raises(VideoUnreadable, match="symbolic link"):
        sample_video(tmp_path / "link.mp4")
