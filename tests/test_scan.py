import os
import time

from organizer.scan import scan


def touch(path, age=3600, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def test_finds_videos_by_extension_case_insensitive_and_skips_hidden(tmp_path):
    touch(tmp_path / "a.MP4")
    touch(tmp_path / "sub" / "b.mkv")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".hidden" / "c.mp4")
    touch(tmp_path / ".organizer" / "d.mp4")
    touch(tmp_path / ".e.mp4")
    found = scan(tmp_path)
    assert sorted(v.rel for v in found.videos) == ["a.MP4", os.path.join("sub", "b.mkv")]


def test_partial_downloads_are_reported_not_planned(tmp_path):
    names = ["a.mp4.part", "b.mp4.part-Frag3", "c.mp4.ytdl", "d.temp.mp4", "e.f137.mp4", "f.mp4.crdownload",
             "g.mp4.download", "h.mp4.!qB", "i.mp4"]
    for n in names:
        touch(tmp_path / n)
    touch(tmp_path / "i.mp4.aria2")
    touch(tmp_path / "fresh.mp4", age=5)
    touch(tmp_path / "done.mp4")
    found = scan(tmp_path, settle_seconds=600)
    assert [v.rel for v in found.videos] == ["done.mp4"]
    downloading = {f.path for f in found.downloading}
    assert downloading == {"a.mp4.part", "d.temp.mp4", "e.f137.mp4", "f.mp4.crdownload", "g.mp4.download",
                           "h.mp4.!qB", "i.mp4", "fresh.mp4"}
    assert all("still downloading" in f.reason for f in found.downloading)
    assert found.skipped == []              # fragments (.part-Frag3) and state files (.ytdl) are left out quietly


def test_settle_time_uses_injected_clock(tmp_path):
    touch(tmp_path / "x.mp4", age=0)
    assert scan(tmp_path, settle_seconds=600).videos == []
    assert len(scan(tmp_path, settle_seconds=600, now=time.time() + 601).videos) == 1


def test_symlinks_fifos_and_hard_links(tmp_path):
    real = touch(tmp_path / "real.mp4")
    os.symlink(real, tmp_path / "link.mp4")
    os.symlink(tmp_path, tmp_path / "loop")
    os.mkfifo(tmp_path / "pipe.mp4")
    os.link(real, tmp_path / "hard.mp4")
    found = scan(tmp_path)
    assert len(found.videos) == 1
    reasons = {f.path: f.reason for f in found.skipped}
    assert "symbolic link" in reasons["link.mp4"]
    assert "not a regular file" in reasons["pipe.mp4"]
    assert "hard link" in reasons[[p for p in reasons if p in ("hard.mp4", "real.mp4")][0]]


def test_a_symlinked_folder_is_never_entered(tmp_path):
    """A link to a folder outside the library: nothing in it is fingerprinted, decoded or planned."""
    outside = tmp_path / "outside"
    touch(outside / "private.mp4")
    lib = tmp_path / "lib"
    touch(lib / "own.mp4")
    os.symlink(outside, lib / "linked")
    os.symlink(outside, lib / "linked.mp4")
    found = scan(lib)
    assert [v.rel for v in found.videos] == ["own.mp4"]
    assert all("private" not in f.path for f in found.skipped + found.downloading)
