"""Shared fixtures: small generated videos, the real clips and models from ../shared when present."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from organizer.config import Settings

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("ORGANIZER_SHARED", HERE.parent.parent / "shared"))
VIDEOS = SHARED / "videos"
MODELS = SHARED / "models"
MNV1 = MODELS / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
MNV2 = MODELS / "mobilenet_v2_1.0_224_quant.tflite"
LABELS = MODELS / "imagenet_labels.txt"

# Where ../shared exists (CI sets ORGANIZER_REQUIRE_SHARED=1 then), a missing clip or model fails the tests that
# need it instead of skipping them: a green run must have run them.
REQUIRE_SHARED = os.environ.get("ORGANIZER_REQUIRE_SHARED") == "1" or SHARED.is_dir()
needs_videos = pytest.mark.skipif(not (VIDEOS / "videos.csv").exists() and not REQUIRE_SHARED,
                                  reason=f"real clips not found at {VIDEOS}")
needs_models = pytest.mark.skipif(not (MNV1.exists() and MNV2.exists()) and not REQUIRE_SHARED,
                                  reason=f"shared TFLite models not found at {MODELS}")


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory):
    """Converted models go to a cache of this test session, never the user's ~/.cache/organizer; and the user's own
    ~/.config/organizer/config.toml is never read (an empty XDG_CONFIG_HOME)."""
    os.environ["ORGANIZER_CACHE_DIR"] = str(tmp_path_factory.mktemp("organizer-cache"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))


def scene_image(scene: int, size=(160, 120)) -> np.ndarray:
    """A distinct, deterministic picture per scene id: coloured background with shapes (RGB)."""
    w, h = size
    rng = np.random.default_rng(1000 + scene)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = rng.integers(30, 220, 3)
    for _ in range(6):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        kind = rng.integers(0, 3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            cv2.circle(img, (x, y), int(rng.integers(8, 40)), colour, -1)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 60)), y + int(rng.integers(10, 60))), colour, -1)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour, 4)
    return img


def write_video(path: Path, pictures: list[np.ndarray | int], seconds_each: float = 1.0, fps: float = 10,
                size=(160, 120), noise: float = 3.0, seed: int = 0) -> Path:
    """Write an MP4 showing each picture (an image or a scene id) for seconds_each, with a little noise."""
    rng = np.random.default_rng(seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    old = time.time() - 3600      # older than any settle time
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v videos here"
    for pic in pictures:
        image = scene_image(pic, size) if isinstance(pic, (int, np.integer)) else pic
        for _ in range(max(1, round(seconds_each * fps))):
            frame = image.astype(np.float32) + rng.normal(0, noise, image.shape)
            writer.write(cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    os.utime(path, (old, old))
    return path


@pytest.fixture
def make_video(tmp_path):
    def make(name: str, pictures, **kw) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_video(path, pictures, **kw)
    return make


def fast_settings(**kw) -> Settings:
    """Real ImageNet MobileNet features through TFLite: fast and meaningful."""
    base = dict(features_model=str(MNV1), safety_settle_seconds=0.0)
    base.update(kw)
    return Settings(**base)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (outside .organizer) with its bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".organizer"]
        for name in filenames:
            p = Path(dirpath) / name
            out[os.path.relpath(p, root)] = p.read_bytes()
    return out


@pytest.fixture(autouse=True)
def _fresh_fault_counts():
    """Every test starts counting fault-point hits from zero (two tests may arm the very same fault)."""
    from organizer.moves import fsops
    fsops.reset_faults()
    yield
    fsops.reset_faults()


@pytest.fixture(autouse=True)
def _no_unexpected_error_logs(request, caplog):
    """A test fails when anything logs at ERROR unless it is marked `expect_error_log` (as PySceneDetect does)."""
    yield
    if request.node.get_closest_marker("expect_error_log"):
        return
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    if errors:
        pytest.fail("unexpected ERROR log: " + "; ".join(f"{r.name}: {r.getMessage()}" for r in errors[:3]))


@pytest.fixture(params=["same", "cross"])
def dest(request, tmp_path):
    """A destination on the same filesystem as the library, and one on another (/dev/shm)."""
    from .moverkit import cross_dest
    if request.param == "same":
        yield tmp_path / "out"
        return
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm not writable")
    folder = cross_dest(tmp_path, "dest")
    yield folder
    import shutil
    shutil.rmtree(folder, ignore_errors=True)


class RecordingProgress:
    """A progress display for tests: records every call."""

    def __init__(self):
        self.calls: list[tuple] = []

    def phase(self, name: str) -> None:
        self.calls.append(("phase", name))

    def start(self, total: int) -> None:
        self.calls.append(("start", total))

    def advance(self, label: str) -> None:
        self.calls.append(("advance", label))

    def finish(self) -> None:
        self.calls.append(("finish",))

    @property
    def advanced(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "advance"]


@pytest.fixture
def recording_progress() -> RecordingProgress:
    return RecordingProgress()


@pytest.fixture
def this_process(monkeypatch) -> dict[str, int]:
    """Counts what this (the parent) process does through the engine's seams: child processes started (workers, the
    model process) and videos it opened to decode itself."""
    from organizer.analysis import decode
    from organizer.engine import model_server, workers

    counts = {"children": 0, "decoded": 0}

    def count(module, name: str, key: str) -> None:
        real = getattr(module, name)

        def counted(*args, **kwargs):
            counts[key] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    count(workers, "start_child", "children")
    count(model_server, "start_child", "children")
    count(decode, "media_path", "decoded")
    return counts

