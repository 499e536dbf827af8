"""The HTML report: structure (parsed), escaping, and a real headless Chromium screenshot that is not blank."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from organizer.cli import main

from .conftest import MNV1, REQUIRE_SHARED, write_video

EVIL = "<img src=x onerror=alert(1)>.mp4"


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not MNV1.exists() and not REQUIRE_SHARED:
        pytest.skip(f"shared TFLite models not found at {MNV1.parent}")
    root = tmp_path_factory.mktemp("lib")
    write_video(root / "a.mp4", [1, 2], seconds_each=2.0)
    write_video(root / "b.mp4", [2, 1], seconds_each=2.0, seed=1)
    write_video(root / EVIL, [7, 8], seconds_each=2.0, seed=2)
    (root / "bad.mp4").write_bytes(b"junk" * 10)
    result = CliRunner().invoke(main, [str(root), "--clusters", "2", "--dry-run", "--json", "--model", str(MNV1),
                                       "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    path = Path(summary["report"])
    assert path == Path(summary["manifest"]).with_suffix(".html")
    return path


def test_report_structure(report):
    p = Collect()
    p.feed(report.read_text(encoding="utf-8"))
    sections = [a for t, a in p.tags if t == "section" and "data-cluster" in a]
    assert len(sections) == 2
    articles = [a for t, a in p.tags if t == "article"]
    assert len(articles) == 3
    images = [a for t, a in p.tags if t == "img"]
    assert len(images) >= 4 and all(a["src"].startswith("data:image/jpeg;base64,") for a in images)
    text = " ".join(p.text)
    assert "bad.mp4" in text and "Skipped (1)" in text and "sampling.fps" in text
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in p.tags)   # readable on a phone


def test_file_names_are_escaped(report):
    html = report.read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;.mp4" in html
    p = Collect()
    p.feed(html)
    assert not any(t == "img" and "onerror" in a for t, a in p.tags)


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_screenshot_in_headless_chromium_is_not_blank(report, tmp_path):
    browser = find_chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; scripts/test.sh installs Debian's chromium package")
        pytest.skip("chromium not installed (scripts/test.sh installs it)")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=800,1000",
                    f"--screenshot={shot}", report.as_uri()], check=True, capture_output=True, timeout=120)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1000, 800)
    assert image.std() > 20                        # not a blank page
    colourful = (image.max(2).astype(int) - image.min(2)).mean()
    assert colourful > 3                           # the keyframe thumbnails were drawn
