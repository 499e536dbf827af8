"""What a new user meets in the first hour and every night after: copies that look like downloads, quiet cron
runs, the clusters asked for, paths and arguments, output that reads well, the report, the README."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from organizer.cli import main
from organizer.layout import Layout

from .conftest import MNV1, needs_models, write_video

MODEL = ["--model", str(MNV1)]
README = (Path(__file__).parent.parent / "README.md").read_text()


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    data = json.loads(result.stdout) if "--json" in args and result.stdout.strip().startswith(("{", "[")) else None
    return result, data


def six_videos(root: Path) -> Path:
    """Six one-second videos of three kinds of pictures, old enough to be settled."""
    for i in range(6):
        write_video(root / f"v{i}.mp4", [1 + i % 3, 4 + i % 3], seconds_each=1.0, seed=i)
    return root


def copied_library(root: Path, n: int = 4) -> Path:
    """Videos with fresh modification times, as `cp -r` leaves them."""
    for i in range(n):
        path = write_video(root / f"v{i}.mp4", [1 + i % 2, 3 + i % 2], seconds_each=1.0, seed=i)
        os.utime(path, None)
    return root


@pytest.fixture
def quick_watch(tmp_path):
    config = tmp_path / "watch.toml"
    config.write_text("[safety]\nstable_seconds = 0.3\n")
    return config


# ------------------------------------------------------------------------ 1. a fresh copy is not a failure
@needs_models
def test_a_library_copied_with_cp_is_organized_on_the_first_run(tmp_path, quick_watch):
    """Fresh modification times everywhere: the complete videos are organized now; a copy cut short (it does not
    play to its end) waits, and the summary says until when."""
    root = copied_library(tmp_path / "lib")
    data = (root / "v0.mp4").read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) // 2])
    result, _ = run(root, "--clusters", "2", "--dry-run", "--config", quick_watch, *MODEL)
    out = result.output
    assert result.exit_code == 0, out
    assert ("4 videos modified in the last 10 minutes are a finished copy (nothing writes them, they do not grow, "
            "and they play to the end): organized now.") in out
    assert "1 file was modified in the last 10 minutes and may still be downloading; it is left alone until " in out
    assert "(the settle time); a run after that looks again" in out and "organize apply" in out
    _, data = run(root, "--clusters", "2", "--dry-run", "--json", "--config", quick_watch, *MODEL)
    assert data["videos"] == 4 and data["copies"] == 4 and [d["path"] for d in data["downloading"]] == ["cut.mp4"]
    assert "does not play to its end yet" in data["downloading"][0]["reason"] and data["retry_at"]


@needs_models
def test_with_finished_copies_left_alone_the_summary_says_what_they_look_like(tmp_path, quick_watch):
    root = copied_library(tmp_path / "lib", 1)
    quick_watch.write_text("[safety]\nstable_seconds = 0.3\nfinished_copies = \"leave\"\n")
    result, _ = run(root, "--dry-run", "--config", quick_watch, *MODEL)
    out = result.output
    assert "1 file was modified in the last 10 minutes and may still be downloading; it is left alone" in out
    assert "1 of them is complete and nothing writes it: it looks like a finished copy" in out
    assert "Still downloading:" not in out, "no line per file without -v"
    verbose, _ = run(root, "--dry-run", "-v", "--config", quick_watch, *MODEL)
    assert verbose.output.count("Still downloading:") == 1


@needs_models
def test_a_file_being_written_or_growing_is_told_apart_from_a_finished_copy(tmp_path, quick_watch):
    root = copied_library(tmp_path / "lib", 3)
    writer = open(root / "v0.mp4", "ab")                  # a downloader holding it open
    grow = threading.Event()

    def append():                                       # grows, but is not held open between writes
        while not grow.wait(0.05):
            with open(root / "v1.mp4", "ab") as fh:
                fh.write(b"x" * 100)
    thread = threading.Thread(target=append)
    thread.start()
    try:
        _, data = run(root, "--dry-run", "--json", "--config", quick_watch, *MODEL)
    finally:
        grow.set()
        thread.join()
        writer.close()
    reasons = {d["path"]: d["reason"] for d in data["downloading"]}
    assert "open for writing by" in reasons["v0.mp4"] and f"pid {os.getpid()}" in reasons["v0.mp4"]
    assert "it is growing" in reasons["v1.mp4"]
    assert "v2.mp4" not in reasons and data["copies"] == 1, "the finished one is organized"


# ------------------------------------------------------------------------------- 2. quiet means quiet
@needs_models
def test_quiet_prints_nothing_on_success_not_even_litert(tmp_path):
    root = tmp_path / "lib"
    for i in range(3):
        write_video(root / f"v{i}.mp4", [1, 2], seconds_each=1.0, seed=i)
    proc = subprocess.run([sys.executable, "-m", "organizer", str(root), "--clusters", "2", "-q", "--settle-seconds",
                           "0", *MODEL], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_litert_chatter_is_captured_in_process(capfd):
    from organizer.features.tflite import make_interpreter
    if not MNV1.exists():
        pytest.skip("no model")
    make_interpreter(MNV1, 1)
    out, err = capfd.readouterr()
    assert "XNNPACK" not in out + err


# ------------------------------------------------------------------- 3-5. the clusters you asked for
@needs_models
def test_after_a_full_undo_the_clusters_asked_for_are_made_afresh(tmp_path):
    root = six_videos(tmp_path / "lib")
    assert run(root, "--clusters", "2", "--settle-seconds", "0", *MODEL)[0].exit_code == 0
    assert run("undo", root)[0].exit_code == 0
    _, data = run(root, "--clusters", "3", "--json", "--settle-seconds", "0", *MODEL)
    assert data["mode"] == "cluster" and len(data["clusters"]) == 3
    assert not any("renamed" in w for w in data["warnings"]), "a full undo leaves a library that was never organized"


@needs_models
def test_cluster_folders_emptied_by_hand_make_the_library_clustered_afresh(tmp_path):
    root = six_videos(tmp_path / "lib")
    assert run(root, "--clusters", "2", "--settle-seconds", "0", *MODEL)[0].exit_code == 0
    for video in list(root.glob("*/*.mp4")):             # the user takes everything out, by hand
        video.rename(root / video.name)
    for folder in [p for p in root.iterdir() if p.is_dir() and p.name != ".organizer"]:
        folder.rmdir()
    _, data = run(root, "--clusters", "3", "--json", "--settle-seconds", "0", *MODEL)
    assert data["mode"] == "cluster" and len(data["clusters"]) == 3
    assert any("clustered afresh" in w for w in data["warnings"])


@needs_models
def test_a_cluster_count_other_than_the_librarys_is_explained(tmp_path):
    root = six_videos(tmp_path / "lib")
    run(root, "--clusters", "3", "--settle-seconds", "0", *MODEL)
    result, data = run(root, "--clusters", "5", "--json", "--settle-seconds", "0", *MODEL)
    assert data["mode"] == "assign"
    assert any("The library has 3 clusters" in w and "ceiling, not a target" in w for w in data["warnings"])
    assert not any("--recluster" in w for w in data["warnings"]), "no command is suggested that was not measured"
    _, again = run(root, "--clusters", "5", "--json", "--settle-seconds", "0", *MODEL)
    assert not any("The library has 3 clusters" in w for w in again["warnings"]), "said once, not every night"


@needs_models
def test_auto_says_how_it_chose_k(tmp_path):
    root = six_videos(tmp_path / "lib")
    result, _ = run(root, "--dry-run", "--settle-seconds", "0", *MODEL)
    assert "Number of clusters: auto found 3 groups of videos within 0.7 of their group's centre." in result.output
    _, data = run(root, "--dry-run", "--json", "--settle-seconds", "0", *MODEL)
    assert data["k_choice"].startswith("auto found 3 groups")


# --------------------------------------------------------------------------------- 6. apply twice
@needs_models
def test_applying_the_same_plan_twice_says_so(tmp_path):
    root = tmp_path / "lib"
    for i in range(3):
        write_video(root / f"v{i}.mp4", [1, 2], seconds_each=1.0, seed=i)
    _, data = run(root, "--clusters", "1", "--dry-run", "--json", "--settle-seconds", "0", *MODEL)
    first, _ = run("apply", data["manifest"])
    assert first.exit_code == 0 and "Moved 3 files" in first.output
    journals = len(list(Layout.of(root).journal_dir.glob("*.jsonl")))
    again, _ = run("apply", data["manifest"])
    assert again.exit_code == 0 and "already applied in run" in again.output and "no longer exists" not in again.output
    assert len(list(Layout.of(root).journal_dir.glob("*.jsonl"))) == journals


# --------------------------------------------------------------------------- 7. paths and arguments
def test_paths_that_are_missing_or_files_get_the_same_kind_of_answer(tmp_path):
    file = tmp_path / "clip.mp4"
    file.write_bytes(b"x")
    for command in ([], ["runs"], ["undo"]):
        missing, _ = run(*command, tmp_path / "missing")
        assert missing.exit_code == 1 and "does not exist" in missing.output and "Usage:" not in missing.output
        given_a_file, _ = run(*command, file)
        assert given_a_file.exit_code == 1 and "is a file, not a folder" in given_a_file.output
        assert "Usage:" not in given_a_file.output


def test_undo_and_runs_never_create_organizer_state_where_there_is_none(tmp_path):
    undo, _ = run("undo", tmp_path)
    assert undo.exit_code == 1 and "has never been organized" in undo.output
    listing, _ = run("runs", tmp_path)
    assert listing.exit_code == 0 and "No runs recorded" in listing.output
    assert not (tmp_path / ".organizer").exists()


@needs_models
def test_keyframes_takes_a_folder_and_checks_inputs_before_the_model(tmp_path):
    write_video(tmp_path / "in" / "a.mp4", [1, 2], seconds_each=1.0)
    write_video(tmp_path / "in" / "sub" / "b.mp4", [3, 4], seconds_each=1.0)
    result, _ = run("keyframes", tmp_path / "in", "-o", tmp_path / "out", *MODEL)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b"]
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"nope")
    result, _ = run("keyframes", tmp_path / "gone.mp4", "-o", tmp_path / "out2", "--model", broken)
    assert result.exit_code == 1 and "gone.mp4 does not exist" in result.output and "TFLite" not in result.output


# ------------------------------------------------------------------------------------ 8. output polish
@needs_models
def test_words_agree_with_their_numbers(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "a.mp4", [1], seconds_each=1.0)
    result, _ = run(root, "--clusters", "1", "--settle-seconds", "0", *MODEL)
    assert "1 video in 1 cluster" in result.output and "1 file moved" in result.output
    assert "move(s)" not in result.output and "(s)" not in result.output
    runs = json.loads(run("runs", root, "--json")[0].output)
    preview, _ = run("undo", root, "--dry-run")
    undo, _ = run("undo", root)
    assert "Moved back 1 file;" in undo.output
    applied = runs[0]["id"]
    assert f"(run {applied})" in preview.output and f"(run {applied}; this undo is run " in undo.output, \
        "the dry run and the undo name the same run"
    again, _ = run("undo", root)
    assert again.exit_code == 1 and "already undone" in again.output, "nothing to undo exits 1, as the README says"
    stills, _ = run("keyframes", root / "a.mp4", "-o", tmp_path / "out", *MODEL)
    assert "1 keyframe ->" in stills.output


@needs_models
def test_runs_has_a_header_and_nights_with_nothing_to_do_are_not_runs(tmp_path):
    root = tmp_path / "lib"
    for i in range(3):
        write_video(root / f"v{i}.mp4", [1, 2], seconds_each=1.0, seed=i)
    run(root, "--clusters", "1", "--settle-seconds", "0", *MODEL)
    run(root, "--clusters", "1", "--settle-seconds", "0", *MODEL)        # a night with nothing new
    lines = run("runs", root)[0].output.splitlines()
    assert lines[0].split() == ["run", "kind", "created", "moved", "undone", "status"]
    assert len(lines) == 2 and lines[1].split()[1] == "apply"
    column = lines[0].index("moved")
    assert lines[1][column:].split()[0] == "3" and lines[1][column - 2:column] == "  ", "columns line up"


@needs_models
def test_verbose_on_a_nightly_run_lists_only_the_new_videos(tmp_path):
    root = tmp_path / "lib"
    for i in range(4):
        write_video(root / f"v{i}.mp4", [1 + i % 2, 3 + i % 2], seconds_each=1.0, seed=i)
    run(root, "--clusters", "2", "--settle-seconds", "0", *MODEL)
    write_video(root / "new.mp4", [1, 3], seconds_each=1.0, seed=9)
    result, _ = run(root, "--clusters", "2", "-v", "--settle-seconds", "0", *MODEL)
    assert "new.mp4" in result.output and "v0.mp4" not in result.output and "new videos" in result.output


@needs_models
def test_plans_are_pruned_but_applied_plans_are_kept(tmp_path):
    root = tmp_path / "lib"
    write_video(root / "a.mp4", [1], seconds_each=1.0)
    config = tmp_path / "c.toml"
    config.write_text("[output]\nkeep_plans = 2\n")
    _, first = run(root, "--dry-run", "--json", "--settle-seconds", "0", "--config", config, *MODEL)
    run("apply", first["manifest"])
    for _ in range(4):
        time.sleep(1.05)                                  # plans are named by the second
        run(root, "--dry-run", "--settle-seconds", "0", "--config", config, *MODEL)
    plans = sorted(p.name for p in Layout.of(root).plans_dir.glob("*.json"))
    assert len(plans) == 3 and Path(first["manifest"]).name in plans
    assert len(list(Layout.of(root).plans_dir.glob("*.html"))) == 3


# ------------------------------------------------------------------------------------------ 9. report
@needs_models
def test_the_report_helps_decide(tmp_path):
    root = tmp_path / "lib"
    for i in range(4):
        write_video(root / f"v{i}.mp4", [1, 2], seconds_each=1.0, seed=i)
    import numpy as np
    noise = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    write_video(root / "odd one.mp4", [noise], seconds_each=2.0, noise=0)
    _, data = run(root, "--dry-run", "--json", "--clusters", "2", "--settle-seconds", "0", *MODEL)
    html = Path(data["report"]).read_text()
    assert "Number of clusters: 2 clusters, as asked." in html
    assert f"organize apply {data['manifest']}" in html
    assert "<p id=threshold>Close enough to belong: max_distance 0.7: 5 videos are too few" in html
    videos = html.split("<p id=threshold>")[1].split("</p>", 1)[1]
    assert videos.count("distance 0.") + videos.count("distance 1.") == 5
    assert "<small class=flag>(1 video)</small>" in html, "a cluster of one is flagged, once"
    assert "(one video)" not in html
    assert (root / "odd one.mp4").as_uri() in html.replace("&#x27;", "'")
    assert "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite" in html and ">features.weights<" not in html


# ------------------------------------------------------------------------------------------ 10. README
def test_the_readme_install_and_cron_lines_work_as_written():
    install = README.split("## Install and run (one command)")[1].split("```sh")[1].split("```")[0].strip()
    assert len(install.splitlines()) == 1 and "python3 -m venv" in install and "pip install ." in install
    assert "python3 -m pip install ." not in README
    cron = [ln for ln in README.splitlines() if re.match(r"^\d+ \d+ \* \* \*", ln)]
    assert cron and all("$HOME/.local/organizer/bin/organize" in ln for ln in cron), "cron needs a full path"
    assert "ExecStart=%h/.local/organizer/bin/organize" in README


def test_every_option_of_every_command_is_in_the_readme():
    missing = []
    for name, command in main.commands.items():
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("--") and flag not in ("--help",) and f"`{flag}" not in README:
                    missing.append(f"{name} {flag}")
    assert missing == []


def test_organize_config_prints_every_setting_as_valid_toml(tmp_path):
    import tomllib

    from organizer.config import OPTIONS, resolve
    result, _ = run("config")
    assert result.exit_code == 0
    data = tomllib.loads(result.output)
    flat = {}
    for section, value in data.items():
        if isinstance(value, dict):
            flat.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            flat[section] = value
    assert set(flat) == set(OPTIONS)
    path = tmp_path / "c.toml"
    path.write_text(result.output)
    assert resolve({}, path) == resolve({})
    path.write_text("[sampling]\nfsp = 2\n")
    assert "`organize config` prints every valid one" in run(tmp_path, "--config", path)[0].output


@needs_models
def test_labels_with_an_embedding_model_are_said_to_be_unused(tmp_path):
    from .conftest import LABELS
    root = tmp_path / "lib"
    for i in range(2):
        write_video(root / f"v{i}.mp4", [1 + i, 3], seconds_each=1.0, seed=i)
    _, data = run(root, "--dry-run", "--json", "--clusters", "1", "--labels", LABELS, *MODEL)
    said = " ".join(data["warnings"])
    assert f"The labels file {LABELS} was not used" in said and "no class scores" in said, said
    assert "no class names" in said



@needs_models
def test_the_readme_cron_line_works_as_written_in_a_clean_environment(tmp_path):
    """A fresh home (no ~/.cache), nothing in the environment but HOME and a minimal PATH, offline settings in
    ~/.config/organizer/config.toml: the README's cron line, word for word, organizes the download folder, writes
    its JSON and its log; a failing night leaves its reason in the log. Then undo, as the README says."""
    home = tmp_path / "home"
    library = home / "Downloads" / "videos"
    for i in range(4):
        write_video(library / f"clip{i}.mp4", [1 + i % 2, 3 + i % 2], seconds_each=1.0, seed=i)
    (home / ".local" / "organizer").mkdir(parents=True)
    (home / ".local" / "organizer" / "bin").symlink_to(Path(sys.executable).parent)   # the README's install place
    (home / ".config" / "organizer").mkdir(parents=True)
    (home / ".config" / "organizer" / "config.toml").write_text(f'[features]\nmodel = "{MNV1}"\n')
    line = next(ln for ln in README.splitlines() if re.match(r"^\d+ \d+ \* \* \*", ln))
    command = line.split(None, 5)[5]
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], "sh", "-c", command],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == "", proc.stderr
    night = json.loads((home / ".cache" / "organize.json").read_text().splitlines()[-1])
    assert night["exit_code"] == 0 and night["moved"] == 4 and "run " in (home / ".cache" / "organize.log").read_text()
    (home / ".config" / "organizer" / "config.toml").write_text('[features]\nmodel = "~/gone.tflite"\n')
    proc = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], "sh", "-c", command],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "gone.tflite does not exist" in (home / ".cache" / "organize.log").read_text()
    undo = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], "sh", "-c",
                           "$HOME/.local/organizer/bin/organize undo $HOME/Downloads/videos"],
                          capture_output=True, text=True, timeout=600)
    assert undo.returncode == 0 and sorted(p.name for p in library.glob("*.mp4")) == [f"clip{i}.mp4" for i in range(4)]
