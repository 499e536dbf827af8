"""Reposts (issue 25): files that are the same video, re-encoded, resized, cropped, mirrored or trimmed, are found;
two parts of one recording, and videos that share only an intro, are not. Plain keyframes first, then real files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2

import numpy as np
import pytest
from click.testing import CliRunner

from organizer.cli import main
from organizer.grouping import reposts

from .conftest import MNV1, needs_models, write_video

DIM = 64
SIDE = 16


def video(rng, pictures: np.ndarray, looks: np.ndarray, times, duration: float, furniture=()) -> dict:
    return {"features": pictures + 0.05 * rng.normal(size=pictures.shape), "looks": looks, "times": tuple(times),
            "duration": duration, "furniture": tuple(furniture)}


def scenes(rng, count: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(count, DIM)), rng.integers(0, 255, (count, SIDE * SIDE)).astype(np.uint8)


def mirror(looks: np.ndarray) -> np.ndarray:
    return looks.reshape(-1, SIDE, SIDE)[:, :, ::-1].reshape(len(looks), -1)


def test_copies_are_found_whatever_was_done_to_them():
    rng = np.random.default_rng(0)
    f, lk = scenes(rng, 4)
    others = {f"other{i}": video(rng, *scenes(rng, 3), (1, 3, 5), 6.0) for i in range(6)}
    library = {"original": video(rng, f, lk, (1, 3, 5, 7), 8.0),
               "mirrored": video(rng, f, mirror(lk), (1, 3, 5, 7), 8.0),
               "trimmed": video(rng, f[1:], lk[1:], (0.5, 2.5, 4.5), 6.0), **others}
    assert reposts.groups(library) == [["mirrored", "original", "trimmed"]]


def test_a_shared_intro_or_a_shared_setting_is_not_the_same_video():
    rng = np.random.default_rng(1)
    intro, intro_looks = scenes(rng, 2)
    a, b = scenes(rng, 3), scenes(rng, 3)
    library = {   # the same intro, then different videos
        "a": video(rng, np.vstack([intro, a[0]]), np.vstack([intro_looks, a[1]]), range(5), 9.0, furniture=(0, 1)),
        "b": video(rng, np.vstack([intro, b[0]]), np.vstack([intro_looks, b[1]]), range(5), 9.0, furniture=(0, 1))}
    setting, setting_looks = scenes(rng, 1)
    c, d = scenes(rng, 2), scenes(rng, 2)
    library |= {   # two parts of one recording: the same room, then different things happen
        "part1": video(rng, np.vstack([setting, c[0]]), np.vstack([setting_looks, c[1]]), (1, 4, 7), 8.0),
        "part2": video(rng, np.vstack([d[0], setting]), np.vstack([d[1], setting_looks]), (1, 4, 7), 8.0)}
    assert reposts.groups(library) == []


def test_two_parts_of_one_static_recording_are_not_one_video():
    """A fixed camera on a room: every part shows the same picture once. Another length means a trimmed copy,
    which must show two keyframes of the original, where they are in it."""
    rng = np.random.default_rng(4)
    room, room_look = scenes(rng, 1)
    a, b = scenes(rng, 1), scenes(rng, 1)
    library = {"part1": video(rng, room, room_look, (3.0,), 6.0), "part2": video(rng, room, room_look, (3.5,), 8.0),
               "other": video(rng, *a, (1.0,), 5.0), "another": video(rng, *b, (2.0,), 7.0)}
    assert reposts.groups(library) == []
    f, lk = scenes(rng, 3)     # two keyframes that match, but at offsets 3 s apart: not one cut of the other
    library = {"long": video(rng, f, lk, (1.0, 4.0, 9.0), 10.0), "short": video(rng, f[:2], lk[:2], (0.5, 0.6), 7.0)}
    assert reposts.groups(library) == []


def test_with_timelines_a_trimmed_piece_of_a_still_scene_is_not_a_copy_but_an_untrimmed_one_is():
    """Where nothing moves, a piece of a still scene looks like every other piece of it, frame for frame: a copy
    of another length must move alike somewhere; one of the same length sits where the original is."""
    rng = np.random.default_rng(5)
    room, room_look = scenes(rng, 1)
    still = np.repeat(rng.integers(20, 230, (1, SIDE * SIDE)), 40, 0).astype(np.uint8)

    def with_timeline(duration: float, noise_seed: int) -> dict:
        steps = int(duration / 0.25)
        noisy = still[:steps] + np.random.default_rng(noise_seed).normal(0, 0.3, (steps, SIDE * SIDE))
        return video(rng, room, room_look, (duration / 2,), duration) | {"timeline": (noisy.round().astype(
            np.uint8), 0.25)}
    library = {"part": with_timeline(6.0, 1), "longer part": with_timeline(9.0, 2),
               "same length": with_timeline(9.0, 3)}
    assert reposts.groups(library) == [["longer part", "same length"]]


def test_once_copies_were_looked_for_only_pairs_with_a_new_video_are_judged():
    rng = np.random.default_rng(6)
    f, lk = scenes(rng, 3)
    g, gl = scenes(rng, 3)
    library = {"old": video(rng, f, lk, (1, 3, 5), 6.0), "old copy": video(rng, f, lk, (1, 3, 5), 6.0),
               "new": video(rng, g, gl, (1, 3, 5), 6.0), "new copy": video(rng, g, gl, (1, 3, 5), 6.0)}
    assert reposts.groups(library) == [["new", "new copy"], ["old", "old copy"]]
    assert reposts.groups(library, new={"new copy"}) == [["new", "new copy"]], "old pairs were judged before"


def test_a_much_shorter_piece_is_not_a_copy():
    rng = np.random.default_rng(2)
    f, lk = scenes(rng, 6)
    library = {"whole": video(rng, f, lk, range(0, 30, 5), 30.0),
               "excerpt": video(rng, f[2:3], lk[2:3], (1,), 4.0)}
    assert reposts.groups(library) == []


def test_the_index_finds_the_same_groups_as_every_pair(monkeypatch):
    from organizer.grouping import furniture

    rng = np.random.default_rng(3)
    library = {}
    for i in range(40):
        f, lk = scenes(rng, 3)
        library[f"v{i}"] = video(rng, f, lk, (1, 3, 5), 6.0)
        if i % 4 == 0:
            library[f"v{i}-copy"] = video(rng, f, lk, (1, 3, 5), 6.0)
    exact = reposts.groups(library)
    monkeypatch.setattr(furniture, "EXACT", 0)
    assert reposts.groups(library) == exact and len(exact) == 10


# ------------------------------------------------------------------------------------------ real files
MODEL = ["--model", str(MNV1), "--settle-seconds", "0"]


def copy_of(src: Path, dst: Path, mirror: bool = False, scale: float = 1.0, crop: float = 0.0,
            skip_seconds: float = 0.0) -> None:
    """A repost of src written with OpenCV: mirrored, scaled, cropped (a share off each side), or trimmed."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    frames = frames[round(skip_seconds * fps):]
    h, w = frames[0].shape[:2]
    y, x = round(h * crop), round(w * crop)
    size = (round((w - 2 * x) * scale) // 2 * 2, round((h - 2 * y) * scale) // 2 * 2)
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for frame in frames:
        frame = cv2.resize(frame[y:h - y, x:w - x], size, interpolation=cv2.INTER_AREA)
        writer.write(frame[:, ::-1] if mirror else frame)
    writer.release()
    old = time.time() - 3600
    os.utime(dst, (old, old))


def run(root: Path, *extra: str) -> dict:
    result = CliRunner().invoke(main, [str(root), "--clusters", "2", "--json", *MODEL, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def library_with_copies(root: Path) -> None:
    write_video(root / "red.mp4", [1, 2, 3], seconds_each=2.0, seed=1, size=(320, 240))
    write_video(root / "red-again.mp4", [3, 2, 1], seconds_each=2.0, seed=2)       # its pictures, another order
    write_video(root / "blue.mp4", [5, 6], seconds_each=2.0, seed=3)
    write_video(root / "blue-2.mp4", [6, 5], seconds_each=2.0, seed=4)
    copy_of(root / "red.mp4", root / "red mirrored.mp4", mirror=True)
    copy_of(root / "red.mp4", root / "red small.mp4", scale=0.6)
    copy_of(root / "red.mp4", root / "red trimmed.mp4", skip_seconds=1.5)


@needs_models
def test_copies_are_listed_in_the_plan_and_the_report(tmp_path):
    root = tmp_path / "lib"
    library_with_copies(root)
    data = run(root, "--dry-run")
    manifest = json.loads(Path(data["manifest"]).read_text())
    assert manifest["same_video"] == [["red mirrored.mp4", "red small.mp4", "red trimmed.mp4", "red.mp4"]]
    assert data["same_video"] == 1 and data["reposts"] == 3
    report = Path(data["report"]).read_text()
    assert "Same video (4 files)" in report and "red.mp4: 6.0 s, " in report and "(best copy)" in report
    assert report.count("(best copy)") == 1 and "320x240" in report.split("(best copy)")[0].rsplit("<li", 1)[1]


@needs_models
def test_reposts_aside_moves_all_but_the_best_copy_into_the_clusters_reposts_folder_and_undo_returns_them(tmp_path):
    root = tmp_path / "lib"
    library_with_copies(root)
    before = sorted(p.name for p in root.iterdir())
    data = run(root, "--reposts", "aside")
    assert data["moved"] == 7 and data["errors"] == []
    best = next(root.glob("*/red.mp4"))
    aside = sorted(p.name for p in (best.parent / "_reposts").iterdir())
    assert aside == ["red mirrored.mp4", "red small.mp4", "red trimmed.mp4"]
    again = run(root, "--reposts", "aside")
    assert again["planned"] == 0, "a later night leaves the copies where they were put"
    undone = CliRunner().invoke(main, ["undo", str(root), "--json"])
    assert undone.exit_code == 0, undone.output
    assert sorted(p.name for p in root.iterdir() if p.name != ".organizer") == before


def test_a_manifest_may_set_a_copy_aside_in_its_cluster_and_nowhere_deeper():
    """--reposts aside made check_move accept a third level: only the cluster's own _reposts folder."""
    from organizer.errors import ManifestError
    from organizer.moves.plan import check_move

    check_move("a.mp4", "cluster-01/_reposts/a.mp4")
    for dst in ("cluster-01/deeper/a.mp4", "_reposts/x/a.mp4", "cluster-01/_reposts/more/a.mp4", "a.mp4"):
        with pytest.raises(ManifestError):
            check_move("a.mp4", dst)


def recording(path: Path, start: float, seconds: float, fps: int = 10, size=(160, 120)) -> Path:
    """A piece of one fixed-camera recording: a still, textured room and a ball that wanders through it (the same
    room and path for every piece; `start` picks the moment)."""
    rng = np.random.default_rng(5)
    w, h = size
    room = cv2.resize(rng.uniform(30, 220, (6, 8, 3)).astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    n = int(40 * fps)
    path_xy = np.cumsum(rng.normal(0, 2.5, (n, 2)), 0) + (w / 2, h / 2)
    path_xy = np.abs((path_xy - 10) % (2 * (np.array([w, h]) - 20)) - (np.array([w, h]) - 20)) + 10
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for x, y in path_xy[int(start * fps):int((start + seconds) * fps)]:
        frame = room.copy()
        cv2.circle(frame, (int(x), int(y)), 9, (250, 250, 250), -1)
        writer.write(np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8))
    writer.release()
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


@needs_models
def test_a_later_night_judges_only_pairs_with_its_new_videos_and_keeps_the_groups_found_before(tmp_path,
                                                                                                 monkeypatch):
    root = tmp_path / "lib"
    library_with_copies(root)
    first = json.loads(Path(run(root, "--dry-run")["manifest"]).read_text())["same_video"]
    run(root)
    asked = []
    original = reposts.groups
    monkeypatch.setattr(reposts, "groups", lambda videos, seed=0, timelines=None, new=None: asked.append(
        (len(videos), new)) or original(videos, seed, timelines, new))
    assert first == [["red mirrored.mp4", "red small.mp4", "red trimmed.mp4", "red.mp4"]]
    copy_of(next(root.glob("*/red.mp4")), root / "red again small.mp4", scale=0.5)
    data = run(root, "--dry-run")
    assert len(asked) == 1 and asked[0][0] == 8 and len(asked[0][1]) == 1, "one new video: only its pairs"
    same = json.loads(Path(data["manifest"]).read_text())["same_video"]
    assert len(same) == 1 and len(same[0]) == 5 and "red again small.mp4" in same[0]


@needs_models
def test_groups_found_by_an_older_round_of_the_rules_are_judged_again(tmp_path, monkeypatch):
    """The groups of copies a run stored stand on later nights; stored by older rules (round five of issue 25 found
    wrong pairs those rules had made), they would stand for ever. A run under another round of the rules
    (library_stats.RULES) judges every pair again once, even with nothing new, and drops what no longer holds."""
    from organizer.grouping import library_stats
    from organizer.store.state import LibraryState

    root = tmp_path / "lib"
    library_with_copies(root)
    run(root, "--dry-run")
    with LibraryState.open(root / ".organizer") as state:
        data = json.loads(state.get_meta("same_video"))
        fps = {fp for g in data["groups"] for fp in g}
        other = next(r[0] for r in state._read("SELECT fingerprint FROM videos") if r[0] not in fps)
        data["groups"][0].append(other)                  # a wrong pair an older round of the rules had made
        state.set_meta("same_video", json.dumps(data))
    assert len(json.loads(Path(run(root, "--dry-run")["manifest"]).read_text())["same_video"][0]) == 5
    asked = []
    original = reposts.groups
    monkeypatch.setattr(reposts, "groups", lambda videos, seed=0, timelines=None, new=None: asked.append(new) or
                        original(videos, seed, timelines, new))
    monkeypatch.setattr(library_stats, "RULES", library_stats.RULES + 1)
    same = json.loads(Path(run(root, "--dry-run")["manifest"]).read_text())["same_video"]
    assert asked == [None], "every pair judged again, though nothing is new"
    assert same == [["red mirrored.mp4", "red small.mp4", "red trimmed.mp4", "red.mp4"]]
    run(root, "--dry-run")
    assert asked == [None], "once: the next night with nothing new reads nothing"


@needs_models
def test_copies_of_a_moving_recording_are_found_and_another_part_of_it_is_not(tmp_path):
    """Timelines (issue 25): keyframes alone took two parts of one fixed-camera recording for one video or missed
    a trimmed, mirrored copy; frame after frame, in picture and in motion, they are told apart."""
    root = tmp_path / "lib"
    root.mkdir()
    recording(root / "room.mp4", 0, 12)
    recording(root / "room later.mp4", 20, 12)
    write_video(root / "other.mp4", [5, 6], seconds_each=3.0, seed=3)
    write_video(root / "other-2.mp4", [6, 5], seconds_each=3.0, seed=4)
    copy_of(root / "room.mp4", root / "room mirrored cropped.mp4", mirror=True, crop=0.05)
    copy_of(root / "room.mp4", root / "room trimmed small.mp4", skip_seconds=3.2, scale=0.7)
    manifest = json.loads(Path(run(root, "--dry-run")["manifest"]).read_text())
    assert manifest["same_video"] == [["room mirrored cropped.mp4", "room trimmed small.mp4", "room.mp4"]]
