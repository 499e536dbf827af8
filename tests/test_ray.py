"""The Ray executor: the extra is named when missing, Ray is never imported unless asked for, an actor answers
like a local worker (a decoder crash, a file its node cannot see), and on a real two-node Ray cluster on 127.0.0.1
a dry run plans exactly what local mode plans on the shared clips, even with a Ray worker killed mid-run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from organizer.analysis.video import AnalysisParams
from organizer.cli import main
from organizer.engine.ray_executor import AnalysisActor
from organizer.features import FeatureSpec
from organizer.engine.workers import FAULT_ENV, Job

from .conftest import MNV1, VIDEOS, fast_settings, needs_models, needs_videos, write_video

# A real two-node Ray cluster (about 80 s of the suite): slow, and CI runs it.
pytestmark = pytest.mark.slow

try:
    import ray  # noqa: F401
    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False
# CI installs the extra and sets ORGANIZER_REQUIRE_RAY=1: there a missing Ray fails these tests, never skips them.
needs_ray = pytest.mark.skipif(not HAVE_RAY and os.environ.get("ORGANIZER_REQUIRE_RAY") != "1",
                               reason="Ray is not installed (pip install 'organizer[ray]')")
RAY = Path(sys.executable).with_name("ray")
ORGANIZE = str(Path(sys.executable).with_name("organize"))
OLD = time.time() - 7200


@pytest.fixture
def small_library(tmp_path):
    root = tmp_path / "lib"
    for i, scenes in enumerate([[1, 2], [1, 2], [3, 4], [3, 4]]):
        write_video(root / f"v{i}.mp4", scenes, seconds_each=2.0, seed=i)
    return root


def test_asking_for_ray_without_the_extra_names_it(small_library, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # import ray now fails, as where the extra is missing
    result = CliRunner().invoke(main, [str(small_library), "--executor", "ray", "--dry-run", "--weights", "random",
                                       "--settle-seconds", "0"])
    assert result.exit_code == 1, result.output
    assert "pip install 'organizer[ray]'" in result.output and "Traceback" not in result.output
    assert not (small_library / ".organizer" / "plans").exists() or not any((small_library / ".organizer" /
                                                                             "plans").iterdir())


def test_the_config_file_can_ask_for_ray_and_an_address(tmp_path):
    from organizer.config import resolve
    path = tmp_path / "c.toml"
    path.write_text('[engine]\nexecutor = "ray"\nray_address = "10.0.0.5:6379"\n')
    settings = resolve({}, path)
    assert (settings.engine_executor, settings.engine_ray_address) == ("ray", "10.0.0.5:6379")


@needs_models
def test_a_local_run_never_imports_ray(small_library):
    code = ("import sys; from click.testing import CliRunner; from organizer.cli import main; "
            f"r = CliRunner().invoke(main, [{str(small_library)!r}, '--dry-run', '--model', {str(MNV1)!r}, "
            "'--settle-seconds', '0', '--clusters', '2', '-q']); "
            "assert r.exit_code == 0, r.output; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@needs_models
def test_an_actor_answers_like_a_local_worker(small_library, monkeypatch):
    """The actor's own code, without Ray: a decoder crash is a skipped file with the local reason, a file the node
    cannot see says so (and is not remembered), and the actor goes on to analyse the next file."""
    monkeypatch.setenv(FAULT_ENV, "crash:v1.mp4")
    settings = fast_settings()
    actor = AnalysisActor(FeatureSpec.from_settings(settings), AnalysisParams.from_settings(settings), 1, False, 60.0)
    try:
        assert actor.ready()
        jobs = [Job("a", str(small_library / "v0.mp4")), Job("b", str(small_library / "v1.mp4")),
                Job("c", str(small_library / "elsewhere" / "v9.mp4")), Job("d", str(small_library / "v2.mp4"))]
        good, crashed, unseen, after = actor.analyse(jobs)
    finally:
        assert actor.stop() > 0
    assert good.ok and after.ok and good.analysis.vector.shape == after.analysis.vector.shape
    assert crashed.failure.startswith("the video decoder crashed on this file (signal 11)") and crashed.remember
    assert "not visible on the Ray node" in unseen.failure and "shared storage" in unseen.failure
    assert not unseen.remember


@pytest.mark.parametrize("nodes,count,share", [([1, 1], 2, 1.0), ([1, 1], 3, 0.5), ([4], 6, 0.6666),
                                               ([1, 1, 1], 4, 0.5), ([2, 1], 7, 0.4), ([], 3, 1.0)])
def test_actors_beyond_the_cpus_share_them_and_still_fit(nodes, count, share):
    from organizer.engine.ray_executor import cpu_share
    got = cpu_share(nodes, count)
    assert got == share
    if nodes:
        assert sum(int(c / got + 1e-9) for c in nodes) >= count


# ----------------------------------------------------------------------------------- a real Ray cluster
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A head node and one more worker node on 127.0.0.1 (one CPU each), stopped afterwards even on failure."""
    tmp = tempfile.mkdtemp(prefix="orgray", dir="/tmp")     # short: Ray's socket paths must fit in 107 bytes
    # Token authentication off, explicitly: Ray (2.60 here) turns it on for a head node wherever ~/.ray/auth_token exists
    # (a local Ray started by ray.init() writes one) but not for the nodes that join it, which then cannot connect.
    env = dict(os.environ, RAY_TMPDIR=tmp, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    port = _free_port()
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
    try:
        subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                        "--include-dashboard=false", *common], env=env, check=True, capture_output=True, timeout=180)
        subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True, timeout=180)
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def _clips(root: Path) -> Path:
    """The shared clips copied into a library of their own (old mtimes: nothing looks like a download)."""
    root.mkdir()
    with open(VIDEOS / "videos.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            copy = root / row["file"]
            shutil.copyfile(VIDEOS / row["file"], copy)
            os.utime(copy, (OLD, OLD))
    return root


def _cli(*args, env, timeout: float = 300) -> subprocess.CompletedProcess:
    """`organize ARGS` in a process of its own, as a user runs it."""
    return subprocess.run([ORGANIZE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def _dry_run(library: Path, *extra) -> list:
    """The arguments of a dry run with --json over `library` (add the model, the executor and the rest)."""
    return [library, "--dry-run", "--json", "--settle-seconds", "0", *extra]


def _organize(root: Path, *extra: str, env=None, wait=True):
    args = [ORGANIZE, str(root), "--dry-run", "--json", "--model", str(MNV1),
            "--clusters", "6", "-q", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return _finish(proc) if wait else proc


def _finish(proc: subprocess.Popen) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, json.loads(out) if out.strip().startswith("{") else {}, err


def _plan(summary: dict) -> dict:
    manifest = json.loads(Path(summary["manifest"]).read_text())
    return {"moves": sorted((m["src"], m["dst"]) for m in manifest["moves"]), "clusters": manifest["clusters"],
            "skipped": manifest["skipped"]}


@pytest.fixture(scope="module")
def local_plan(tmp_path_factory):
    code, summary, err = _organize(_clips(tmp_path_factory.mktemp("local") / "lib"))
    assert code == 0, err
    return _plan(summary)


def _slow_run(library: Path, address: str, env: dict) -> subprocess.Popen:
    """A Ray run, not waited for, in which each video takes a second longer (the fault travels to the actors with
    the ORGANIZER_ variables), so that a kill lands inside an analysis."""
    return _organize(library, "--executor", "ray", "--ray-address", address, env=dict(env, **{FAULT_ENV: "slow:."}),
                     wait=False)


def _actors_analysing() -> list[int]:
    """Pids of Ray worker processes running an AnalysisActor.analyse call (Ray names them so)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.strip().startswith(b"ray::AnalysisActor.analyse"):
            found.append(int(pid))
    return found


@needs_ray
@needs_videos
@needs_models
@pytest.mark.slow
def test_a_ray_cluster_plans_exactly_what_local_mode_plans(ray_cluster, local_plan, tmp_path):
    address, env = ray_cluster
    code, summary, err = _organize(_clips(tmp_path / "lib"), "--executor", "ray", "--ray-address", address, env=env)
    assert code == 0, err
    assert summary["videos"] == 29 and summary["skipped"] == []
    assert len(local_plan["moves"]) == 29
    assert _plan(summary) == local_plan


@needs_ray
@needs_videos
@needs_models
@pytest.mark.slow
def test_killing_a_ray_worker_mid_run_still_completes_the_run(ray_cluster, local_plan, tmp_path):
    address, env = ray_cluster
    library = _clips(tmp_path / "lib")
    proc = _slow_run(library, address, env)
    deadline, killed = time.monotonic() + 240, None
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        busy = _actors_analysing()
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.2)
    assert killed is not None, "no Ray worker was ever seen analysing"
    code, summary, err = _finish(proc)
    assert code == 0, err
    assert summary["videos"] == 29 and summary["skipped"] == []
    assert _plan(summary) == local_plan


def _analysed(library: Path) -> int:
    """Analyses stored in the library's state so far (0 before the database exists)."""
    import sqlite3
    path = library / ".organizer" / "state.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM videos WHERE error IS NULL").fetchone()[0]
    except sqlite3.Error:
        return 0


@needs_ray
@needs_videos
@needs_models
@pytest.mark.slow
def test_a_driver_killed_mid_run_loses_nothing(ray_cluster, local_plan, tmp_path):
    address, env = ray_cluster
    library = _clips(tmp_path / "lib")
    proc = _slow_run(library, address, env)
    deadline = time.monotonic() + 240
    while _analysed(library) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    stored = _analysed(library)
    assert 3 <= stored < 29, f"the kill should land mid-run ({stored} of 29 analysed)"
    code, summary, err = _organize(library, "--executor", "ray", "--ray-address", address, env=env)
    assert code == 0, err
    assert summary["cached"] >= stored and summary["videos"] == 29 and summary["skipped"] == []
    assert _plan(summary) == local_plan


@needs_ray
@needs_models
@pytest.mark.slow
def test_without_an_address_ray_address_names_the_cluster(ray_cluster, small_library):
    address, env = ray_cluster
    args = _dry_run(small_library, "--model", MNV1, "--clusters", "2", "--executor", "ray")
    # A temp folder of its own, where the cluster cannot be found by Ray's 'latest cluster' file: only RAY_ADDRESS
    # can lead the run to it, and a Ray started for the run would leave a session folder there.
    own = tempfile.mkdtemp(prefix="orgray", dir="/tmp")
    try:
        out = _cli(*args, env=dict(env, RAY_ADDRESS=address, RAY_TMPDIR=own))
        started_here = list(Path(own).rglob("session_2*"))
    finally:
        shutil.rmtree(own, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["videos"] == 4 and summary["skipped"] == []
    assert not started_here, "no Ray of its own started"


@needs_ray
@needs_models
@pytest.mark.slow
def test_on_ray_a_decoder_crash_is_a_skipped_file_and_keyframes_export_works(ray_cluster, small_library, tmp_path):
    address, env = ray_cluster
    on_ray = ["--model", MNV1, "--executor", "ray", "--ray-address", address]
    run = _dry_run(small_library, "--clusters", "2", *on_ray)
    out = _cli(*run, env=dict(env, **{FAULT_ENV: "crash:v1.mp4"}))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["videos"] == 3
    assert summary["skipped"] == [{"path": "v1.mp4", "reason": "the video decoder crashed on this file (signal 11); "
                                   "it was left alone"}]
    again = _cli(*run, env=env)
    assert "remembered from an earlier run" in json.loads(again.stdout)["skipped"][0]["reason"], "not retried"
    out = _cli("keyframes", small_library / "v0.mp4", "-o", tmp_path / "stills", "--json", *on_ray, env=env)
    assert out.returncode == 0, out.stderr
    assert sorted(p.suffix for p in (tmp_path / "stills" / "v0").iterdir()) == [".jpg", ".jpg", ".json"]


@needs_ray
@needs_models
@pytest.mark.slow
def test_more_workers_than_the_cluster_has_cpus_share_them(ray_cluster, small_library):
    """Three actors on a two-CPU cluster: each gets part of a CPU, rather than one waiting for a CPU forever (with
    eight videos every actor has batches to do)."""
    address, env = ray_cluster
    for i, scenes in enumerate([[5, 6], [5, 6], [7, 8], [7, 8]], start=4):
        write_video(small_library / f"v{i}.mp4", scenes, seconds_each=2.0, seed=i)
    out = _cli(*_dry_run(small_library, "--model", MNV1, "--clusters", "2", "--executor", "ray", "--ray-address",
                         address, "--workers", "3"), env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["videos"] == 8


@needs_ray
@needs_models
@pytest.mark.slow
def test_a_model_the_ray_workers_cannot_load_is_one_message(ray_cluster, small_library, tmp_path):
    address, env = ray_cluster
    garbage = tmp_path / "broken.tflite"
    garbage.write_bytes(b"not a model" * 100)
    out = _cli(*_dry_run(small_library, "--model", garbage, "--executor", "ray", "--ray-address", address), env=env)
    assert out.returncode == 1, out.stderr
    assert "broken.tflite is not a usable TFLite model" in json.loads(out.stdout)["error"]
