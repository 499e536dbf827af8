"""Library furniture (issue 25): a picture that recurs in unrelated videos (a shared intro, an end card) does not
decide the groups. Plain keyframe features first, then real videos, a real state and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import adjusted_rand_score

from organizer.cli import main
from organizer.grouping import furniture as fu
from organizer.vectors import l2n

from .conftest import MNV1, needs_models, write_video

DIM = 64


def library(seed: int = 0, groups: int = 3, per: int = 4, intro_share: float = 0.6, own: int = 2, noise: float = 0.6):
    """Videos of `groups` groups with `own` keyframes of their own each (near their group's centre), and an
    animated intro (two pictures, with a little noise) in front of a random share of them, whatever their group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, DIM))
    intro = rng.normal(size=(2, DIM)) * 8
    videos, truth, with_intro = {}, {}, set()
    for g in range(groups):
        for i in range(per):
            rows = [centres[g] + noise * rng.normal(size=DIM) for _ in range(own)]
            name = f"g{g}v{i}"
            if rng.random() < intro_share or i == 0:
                rows = list(intro + 0.3 * rng.normal(size=(2, DIM))) + rows
                with_intro.add(name)
            videos[name] = np.array(rows, np.float32)
            truth[name] = g
    return videos, truth, with_intro


def test_a_shared_intro_is_found_and_only_it_is_marked():
    videos, _, with_intro = library()
    found = fu.find(videos)
    assert len(found.pictures) == 2 and {p.videos for p in found.pictures} == {len(with_intro)}
    assert found.marks == {name: (0, 1) for name in with_intro}


def test_grouping_without_the_intro_finds_the_groups_the_intro_blurred():
    videos, truth, _ = library(seed=1, intro_share=0.5, own=1, noise=1.0)
    found = fu.find(videos)
    names = sorted(videos)

    def labels(vectors):
        from sklearn.cluster import KMeans
        x = np.stack(vectors)
        return KMeans(3, n_init=10, random_state=0).fit_predict(l2n(x - x.mean(0)))

    raw = [l2n(l2n(videos[n]).mean(0)) for n in names]
    clean = [fu.grouping_vector(l2n(videos[n]), None, found.marks[n]) if n in found.marks else raw[i]
             for i, n in enumerate(names)]
    assert adjusted_rand_score([truth[n] for n in names], labels(clean)) == 1.0
    assert adjusted_rand_score([truth[n] for n in names], labels(raw)) < 0.9, "the intro must matter for the test"


def test_a_scene_one_group_shares_is_not_furniture():
    """Every video of group 0 opens on the same scene: it is that group's, and keeps counting."""
    videos, _, _ = library(seed=1, intro_share=0.0)
    rng = np.random.default_rng(9)
    scene = rng.normal(size=DIM) * 1.5
    for name in [n for n in videos if n.startswith("g0")]:
        videos[name] = np.vstack([scene + 0.05 * rng.normal(size=DIM), videos[name][-2:]]).astype(np.float32)
    found = fu.find(videos)
    assert not any(name.startswith("g0") for name in found.marks), found.marks


def test_two_pictures_that_always_come_together_are_a_groups_own():
    """Videos made of nothing but the same two pictures: no video shows anything else, so nothing says they are
    unrelated; they are a group, not furniture."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, DIM))
    videos = {f"v{i}": np.array([a + 0.02 * rng.normal(size=DIM), b + 0.02 * rng.normal(size=DIM)], np.float32)
              for i in range(4)}
    assert fu.find(videos).marks == {}, "alone: centred, the two pictures cancel out; they are still a group"
    videos |= {f"w{i}": rng.normal(size=(2, DIM)).astype(np.float32) for i in range(4)}
    assert fu.find(videos).marks == {}


def test_a_groups_own_scenes_stay_its_own_when_an_intro_fills_the_rest_of_its_videos():
    """Every video of a group shows the group's two scenes, and two of its three open with the uploader's intro,
    which also opens videos of other groups. Every keyframe recurs, so each picture is judged without itself: the
    intro first (it spans the most videos), and a group's scene without the intro once it is found to be furniture.
    Judged with the intro still in, the one video without it looked unrelated to the two with it, and a group's own
    scene became furniture (its video then lost the pictures it is grouped by)."""
    rng = np.random.default_rng(5)
    intro = rng.normal(size=(2, DIM)) * 3
    noisy = lambda v: (v + 0.05 * rng.normal(size=v.shape)).astype(np.float32)       # noqa: E731
    videos, with_intro = {}, set()
    for g in range(3):
        scenes = rng.normal(size=(2, DIM))
        for i in range(3):
            own = scenes if i % 2 == 0 else scenes[::-1]
            name = f"g{g}v{i}"
            videos[name] = noisy(np.vstack([intro, own]) if i < 2 else own)
            with_intro |= {name} if i < 2 else set()
    found = fu.find(videos)
    assert found.marks == {name: (0, 1) for name in with_intro}, found.marks
    assert sorted(p.videos for p in found.pictures) == [6, 6]


def test_a_picture_that_is_all_some_videos_show_is_their_content_not_furniture():
    """Three copies of one video (an uploader's intro, the group's one scene, the uploader's end card) and two more
    videos of that group, each with the scene and another picture of its own, unrelated to each other. The scene
    recurs in five videos, and the only two with something else to compare look unrelated; but it is all the
    copies show besides the intro and the end card: it is their content. Before, it became furniture, and the
    copies were left with nothing to be grouped or matched by (tune library b7 of bench/make_library.py)."""
    rng = np.random.default_rng(3)
    intro, card, scene, q1, q2 = rng.normal(size=(5, DIM)) * 3
    noisy = lambda v: (v + 0.05 * rng.normal(size=DIM)).astype(np.float32)       # noqa: E731
    videos = {f"copy{i}": np.array([noisy(intro), noisy(scene), noisy(card)]) for i in range(3)}
    videos |= {"piece1": np.array([noisy(scene), noisy(q1)]), "piece2": np.array([noisy(q2), noisy(scene)])}
    others = rng.normal(size=(6, 2, DIM)) * 3
    videos |= {f"o{i}": np.array([noisy(intro), *map(noisy, others[i]), noisy(card)]) for i in range(6)}
    found = fu.find(videos)
    assert all(found.marks[f"copy{i}"] == (0, 2) for i in range(3)), found.marks
    assert "piece1" not in found.marks and "piece2" not in found.marks
    assert all(found.marks[f"o{i}"] == (0, 3) for i in range(6))
    assert sorted(p.videos for p in found.pictures) == [9, 9]


def test_a_copy_that_is_nearly_all_intro_does_not_save_the_intro():
    """An uploader's intro opens six videos: a signer and a copy of it, another signer and a trimmed copy of that
    one which kept only the intro, and two videos of other groups. The trimmed copy shows nothing else either, but
    the intro opens every video it is in: it is still furniture (counted as related to the others, the copy had
    kept the intro in, and two signers became one video: make_library.py's report half, seed 22)."""
    rng = np.random.default_rng(8)
    intro, a, x, y = rng.normal(size=(4, DIM)) * 3
    b = a + 1.5 * rng.normal(size=DIM)                  # another signer, in the same room: related to a
    noisy = lambda v: (v + 0.05 * rng.normal(size=DIM)).astype(np.float32)       # noqa: E731
    videos = {"signer": [intro, a], "signer-copy": [intro, a], "other-signer": [intro, b],
              "other-signer-trimmed": [intro], "x": [intro, x], "y": [intro, y]}
    videos = {name: np.array([noisy(v) for v in rows]) for name, rows in videos.items()}
    videos |= {f"o{i}": rng.normal(size=(2, DIM)).astype(np.float32) * 3 for i in range(4)}
    found = fu.find(videos)
    assert {name: found.marks.get(name) for name in ("signer", "other-signer-trimmed", "x")} == \
        {"signer": (0,), "other-signer-trimmed": (0,), "x": (0,)}, found.marks


def test_the_index_finds_the_same_copies_as_comparing_every_pair(monkeypatch):
    videos, _, _ = library(seed=4, groups=6, per=8)
    exact = fu.find(videos)
    monkeypatch.setattr(fu, "EXACT", 0)             # force the hash index
    indexed = fu.find(videos)
    assert indexed.marks == exact.marks and exact.marks


def test_a_new_video_matches_the_known_pictures():
    videos, _, with_intro = library(seed=5)
    known = fu.find(videos)
    rng = np.random.default_rng(7)
    intro_row = videos[sorted(with_intro)[0]][1]
    newcomer = np.array([rng.normal(size=DIM), intro_row + 0.05 * rng.normal(size=DIM)], np.float32)
    assert fu.match(newcomer, known) == (1,)


def test_a_video_of_nothing_but_furniture_is_bare():
    rows = np.ones((2, DIM), np.float32)
    assert fu.grouping_vector(rows, None, (0, 1)) is None
    assert fu.grouping_vector(rows, None, ()) is None


# ------------------------------------------------------------------------------------------ real videos
MODEL = ["--model", str(MNV1), "--settle-seconds", "0"]
INTRO = [40, 41]     # scene ids no group uses: the uploader's intro, two cards
GROUPS = {"red": [1, 2], "green": [3, 4], "blue": [5, 6]}


def intro_library(root: Path) -> dict[str, str]:
    """Three groups of three videos; two of each group open with the same intro card. Returns name -> group."""
    truth = {}
    for g, (name, scenes) in enumerate(GROUPS.items()):
        for i in range(3):
            pictures = (INTRO if i < 2 else []) + (scenes if i % 2 == 0 else scenes[::-1])
            file = f"{name}-{i}.mp4"
            write_video(root / file, pictures, seconds_each=2.0, seed=10 * g + i)
            truth[file] = name
    return truth


def organized(root: Path, *extra: str) -> tuple[dict, dict[str, str]]:
    result = CliRunner().invoke(main, [str(root), "--clusters", "3", "--json", *MODEL, *extra])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    if "--dry-run" in extra:
        moves = json.loads(Path(data["manifest"]).read_text())["moves"]
        return data, {Path(m["src"]).name: m["cluster"] for m in moves}
    return data, {p.name: p.parent.name for p in root.rglob("*.mp4") if ".organizer" not in p.parts}


@needs_models
def test_a_shared_intro_does_not_group_videos_and_the_run_says_why(tmp_path):
    root = tmp_path / "lib"
    truth = intro_library(root)
    data, where = organized(root, "--dry-run", "--keyframes-dir", str(tmp_path / "kf"))
    names = sorted(truth)
    assert adjusted_rand_score([truth[n] for n in names], [where[n] for n in names]) == 1.0, where
    assert [p["videos"] for p in data["furniture"]] == [6, 6], data["furniture"]         # the intro's two cards
    assert data["furniture"][0]["example"] in {n for n in names if not n.endswith("-2.mp4")}
    report = Path(data["report"]).read_text()
    assert "<section class=cluster id=furniture>" in report and "in 6 videos" in report
    first = report.split("<div class=strip>")[2].split("<img", 2)[1]      # the first video's first picture
    assert "library furniture" not in first, "a furniture picture never stands for a video"
    marked = [e for f in (tmp_path / "kf").rglob("keyframes.json")
              for e in json.loads(f.read_text())["keyframes"] if e.get("furniture")]
    assert len(marked) == 12, "the export keeps the intro, marked"


@needs_models
def test_a_nightly_run_reads_no_keyframes_when_nothing_is_new_and_matches_a_new_video(tmp_path, monkeypatch):
    from organizer.store.state import LibraryState

    root = tmp_path / "lib"
    intro_library(root)
    organized(root)
    calls = []
    original = LibraryState.keyframe_data
    monkeypatch.setattr(LibraryState, "keyframe_data", lambda self, fps, key: calls.append(len(fps)) or original(
        self, fps, key))
    organized(root)
    assert calls == [], "a night with nothing new reads no keyframes"
    write_video(root / "green-new.mp4", INTRO + [3, 4], seconds_each=2.0, seed=99)
    data, where = organized(root)
    assert calls and where["green-new.mp4"] == where["green-0.mp4"]
    assert [p["videos"] for p in data["furniture"]] == [7, 7]


def test_an_end_card_that_closes_two_unrelated_videos_is_furniture():
    """In a small library an uploader's end card may close two videos only, below MIN_VIDEOS. At the same end of
    every video it is in (the last keyframe of each), two unrelated videos are enough; the same picture in the
    middle of two videos is not, nor one that ends two videos of one group (their own closing scene)."""
    rng = np.random.default_rng(11)
    card, a, b, c = rng.normal(size=(4, DIM)) * 3
    noisy = lambda v: v + 0.05 * rng.normal(size=DIM)                            # noqa: E731
    videos = {"x": np.array([noisy(a), noisy(card)]), "y": np.array([noisy(b), noisy(card)]),
              "z": np.array([noisy(c), noisy(c)])}
    videos |= {f"o{i}": rng.normal(size=(2, DIM)) for i in range(5)}
    assert fu.find(videos).marks == {"x": (1,), "y": (1,)}
    middle = dict(videos, x=np.array([noisy(a), noisy(card), noisy(a)]))
    assert fu.find(middle).marks == {}
    same_group = dict(videos, y=np.array([noisy(a), noisy(card)]))
    assert fu.find(same_group).marks == {}
