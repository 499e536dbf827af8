"""`organize review` in a real browser: Chromium (the system's, through Playwright) finds everything by the accessible
names a screen reader uses; the server runs as the command a user starts, in its own process."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from organizer.cli import main
from organizer.moves.manifest import parse_plan

from .conftest import MNV1, needs_models, tree, write_video

EVIL = "<img src=x onerror=alert(1)>.mp4"
GROUPS = {"a": [1, 1, 2], "b": [5, 6, 5], "c": [9, 9, 3]}


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; scripts/test.sh installs Debian's chromium package")
        pytest.skip("chromium not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))    # an injected alert() would show here
    yield page
    context.close()
    assert dialogs == []


def make_library(root: Path) -> Path:
    """Three groups of videos in the library and a phone folder, one with HTML in its name; returns the manifest
    of a dry run."""
    for group, scenes in GROUPS.items():
        for i in range(3 if group != "c" else 2):
            write_video(root / ("phone" if group == "b" else "") / f"{group}{i}.mp4", scenes, seed=10 * ord(group) + i)
    write_video(root / EVIL, [1, 1, 2], seed=77)
    result = CliRunner().invoke(main, [str(root), "--dry-run", "--model", str(MNV1), "--settle-seconds", "0",
                                       "--clusters", "3", "--json"])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.output)["manifest"])


class Review:
    """`organize review` running in its own process, as a user starts it."""

    def __init__(self, target: Path, *extra: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "organizer", "review", str(target), "--no-browser",
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("Open http"):
                self.url = line.split()[1]
                return
        raise AssertionError("organize review printed no address: " + "".join(self.lines))

    def stop(self) -> str:
        """Ctrl-C, as a user stops it; returns what it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, "".join(self.lines) + out
        return out


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "lib"
    manifest = make_library(root)
    return root, manifest


@pytest.fixture
def review(library):
    root, manifest = library
    running = Review(manifest, "--idle-timeout", "300")
    yield running
    running.stop()


def unlocked(root: Path) -> bool:
    fd = os.open(root / ".organizer" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def cluster_of(plan, src: str) -> str | None:
    return next((m.cluster for m in plan.moves if m.src == src), None)


def edit_everything(page, plan) -> dict[str, str]:
    """Rename a, move b1 to _unsorted, exclude b2, merge c into a, through the page's accessible names. Returns
    the clusters of the first video of each group in the plan."""
    first = {g: cluster_of(plan, f"{g}0.mp4" if g != "b" else "phone/b0.mp4") for g in GROUPS}
    a = page.get_by_role("region", name=first["a"])
    a.get_by_label("Cluster name").fill("Cosplay & <b>friends")
    page.get_by_role("article", name="phone/b1.mp4").get_by_label("Move to").select_option(label="_unsorted")
    page.get_by_role("article", name="phone/b2.mp4").get_by_label("Exclude").check()
    c = page.get_by_role("region", name=first["c"])
    c.get_by_label("Merge into").select_option(label="Cosplay & <b>friends")
    c.get_by_role("button", name="Merge").click()
    return first


@needs_models
def test_edit_in_the_browser_save_a_new_manifest_apply_it_and_undo_it(library, review, page):
    root, manifest = library
    before, original = tree(root), manifest.read_bytes()
    plan = parse_plan(manifest.read_text())
    page.goto(review.url)
    first = edit_everything(page, plan)
    renamed = page.get_by_role("region", name="Cosplay & <b>friends")
    assert renamed.get_by_role("heading").inner_text() == "Cosplay & <b>friends"     # the name as text, escaped
    assert renamed.get_by_role("article").count() == 3 + 1 + 2                       # a, the evil one, and c merged
    assert page.get_by_role("region", name=first["c"]).count() == 0
    assert page.get_by_role("region", name="_unsorted").get_by_role("article", name="phone/b1.mp4").count() == 1
    page.get_by_role("button", name="Save plan").click()
    status = page.get_by_role("status")
    status.filter(has_text="Saved as").wait_for()
    saved = Path(status.inner_text().split("Saved as ")[1].split(":")[0])
    assert saved.parent == manifest.parent and saved != manifest
    assert manifest.read_bytes() == original                                         # the old plan is never changed
    edited = parse_plan(saved.read_text())
    assert cluster_of(edited, "a0.mp4") == cluster_of(edited, "c1.mp4") == "Cosplay & <b>friends"
    assert cluster_of(edited, EVIL) == "Cosplay & <b>friends"
    assert cluster_of(edited, "phone/b1.mp4") == "_unsorted" and cluster_of(edited, "phone/b2.mp4") is None
    assert {(d.src, d.kind) for d in edited.decisions} >= {("phone/b2.mp4", "exclude"), ("phone/b1.mp4", "cluster")}
    assert tree(root) == before                                                      # saving moves nothing
    out = review.stop()
    assert "unlocked" in out and unlocked(root)
    runner = CliRunner()
    applied = runner.invoke(main, ["apply", str(saved), "--json"])
    assert applied.exit_code == 0, applied.output
    for m in edited.moves:                                                            # exactly as shown
        assert (root / m.dst).is_file() and not (root / m.src).exists()
    assert (root / "phone" / "b2.mp4").is_file()                                     # excluded: where it was
    undone = runner.invoke(main, ["undo", str(root), "--json"])
    assert undone.exit_code == 0, undone.output
    assert tree(root) == before


@needs_models
def test_apply_from_the_page_and_later_runs_keep_what_was_decided(library, review, page):
    root, manifest = library
    plan = parse_plan(manifest.read_text())
    page.goto(review.url)
    edit_everything(page, plan)
    page.get_by_role("button", name="Apply plan").click()
    status = page.get_by_role("status")
    status.filter(has_text="Moved").wait_for()
    assert "organize undo" in status.inner_text()
    assert (root / "Cosplay & <b>friends" / "c0.mp4").is_file() and (root / "_unsorted" / "b1.mp4").is_file()
    assert (root / "phone" / "b2.mp4").is_file()
    review.stop()
    # A nightly run with a new video of group b: the decisions hold, the renamed folder keeps its name.
    write_video(root / "new" / "b9.mp4", GROUPS["b"], seed=999)
    runner = CliRunner()
    night = runner.invoke(main, [str(root), "--model", str(MNV1), "--settle-seconds", "0", "--json"])
    assert night.exit_code == 0, night.output
    assert (root / "phone" / "b2.mp4").is_file() and (root / "_unsorted" / "b1.mp4").is_file()
    assert (root / "Cosplay & <b>friends" / "c0.mp4").is_file() and not (root / "new" / "b9.mp4").exists()
    assert any("you excluded it in organize review" in s["reason"] for s in json.loads(night.output)["skipped"])
    # --recluster respects them too; --forget-decisions does not.
    again = runner.invoke(main, [str(root), "--model", str(MNV1), "--recluster", "--dry-run", "--json",
                                 "--clusters", "3"])
    moves = parse_plan(Path(json.loads(again.output)["manifest"]).read_text()).moves
    assert "phone/b2.mp4" not in {m.src for m in moves} and "_unsorted/b1.mp4" not in {m.src for m in moves}
    forget = runner.invoke(main, [str(root), "--model", str(MNV1), "--recluster", "--dry-run", "--json",
                                  "--clusters", "3", "--forget-decisions"])
    assert "phone/b2.mp4" in {m.src for m in parse_plan(Path(json.loads(forget.output)["manifest"]).read_text()).moves}


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@needs_models
def test_every_request_without_the_token_or_for_another_host_is_refused(review):
    base, token = review.url.rsplit("/", 2)[0], review.url.rsplit("/", 2)[1]
    assert request(review.url) == 200
    assert request(review.url + "app.js") == 200
    for path in ("/", "/style.css", f"/{token[:-1]}/", f"/{token}x/", "/../" + token + "/"):
        assert request(base + path) == 403, path
    assert request(review.url, headers={"Host": "evil.example"}) == 403              # DNS rebinding
    assert request(review.url + "save", "POST", b"{}", {"Content-Type": "application/json"}) == 403    # no Origin
    assert request(review.url + "thumb/0/999/0.jpg") == 404
    assert request(review.url + "thumb/../../../etc/passwd") == 404


@needs_models
def test_a_cross_origin_post_is_refused_and_saves_nothing(library, review, browser):
    root, manifest = library
    plans = sorted(manifest.parent.glob("*.json"))

    class Other(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>another site</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        body = json.dumps({"plan": parse_plan(manifest.read_text()).id, "names": {}, "targets": {"0": None}})
        for kind in ("text/plain", "application/json"):      # a simple request, and one that needs a preflight
            page.evaluate("([url, body, kind]) => fetch(url, {method: 'POST', mode: 'no-cors', body, "
                          "headers: {'Content-Type': kind}}).catch(() => null)", [review.url + "save", body, kind])
        page.close()
        # Even with the token and a JSON body, a write from another origin is refused.
        assert request(review.url + "save", "POST", body.encode(), {"Content-Type": "application/json",
                                                                    "Origin": "http://evil.example"}) == 403
        assert request(review.url + "apply", "POST", body.encode(), {"Content-Type": "application/json",
                                                                     "Origin": "null"}) == 403
    finally:
        other.shutdown()
    assert sorted(manifest.parent.glob("*.json")) == plans
    assert not (root / ".organizer" / "journal").exists() or not any((root / ".organizer" / "journal").iterdir())


@needs_models
def test_names_with_html_stay_text(review, page):
    page.goto(review.url)
    article = page.get_by_role("article", name=EVIL)
    assert article.count() == 1
    assert page.locator("img[onerror]").count() == 0 and page.locator("main b").count() == 0
    region = page.get_by_role("region").filter(has=article)
    region.get_by_label("Cluster name").fill("<script>alert(2)</script>")
    assert page.get_by_role("heading", name="<script>alert(2)</script>").count() == 1
    assert page.locator("main script").count() == 0


@needs_models
def test_review_of_a_library_opens_its_newest_unapplied_plan_and_stops_when_idle(library):
    root, manifest = library
    result = CliRunner().invoke(main, [str(root), "--model", str(MNV1), "--settle-seconds", "0", "--clusters", "3",
                                       "--dry-run", "--manifest", str(root / ".organizer" / "plans" / "zz.json")])
    assert result.exit_code == 0, result.output
    running = Review(root, "--idle-timeout", "1")
    assert "zz.json" in "".join(running.lines)
    assert not unlocked(root)
    out, _ = running.proc.communicate(timeout=60)          # it stops by itself, releasing the lock
    assert running.proc.returncode == 0 and "without a request" in out and unlocked(root)
    assert CliRunner().invoke(main, ["review", str(root / "nothing-here")]).exit_code == 2
    never = CliRunner().invoke(main, ["review", str(root / "phone")])
    assert never.exit_code == 1 and "has no plans to review" in never.output


def big_plan(root: Path, n: int = 1000, clusters: int = 25) -> Path:
    """A plan of n videos in `clusters` clusters, each video with three cached keyframe thumbnails."""
    from organizer.analysis.images import thumbnail_jpeg
    from organizer.config import resolve
    from organizer.moves.plan import ClusterInfo, Move, Plan
    from organizer.pipeline import ResolvedRun
    from organizer.store.state import LibraryState
    from organizer.types import Analysis, Keyframes

    settings = resolve({"features.model": str(MNV1)})
    key = ResolvedRun.of(settings).key
    rng = np.random.default_rng(0)
    moves = []
    with LibraryState.open(root / ".organizer") as state:
        for i in range(n):
            jpeg = thumbnail_jpeg(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8))
            state.store_analysis(f"fp{i}", key, Analysis(12.0, 12, Keyframes((0, 4, 8), (0.5, 4.5, 8.5), (5, 45, 85),
                                                                            (1.0, 1.0, 1.0)),
                                                         np.ones(8, np.float32), thumbnails=(jpeg,) * 3))
            moves.append(Move(f"in/video {i}.mp4", f"group-{i % clusters:02d}/video {i}.mp4", f"group-{i % clusters:02d}",
                              1000 + i, 1, i + 1, 0.3, f"fp{i}"))
    plan = Plan(str(root), str(root), "now", settings.as_dict(),
                [ClusterInfo(f"group-{c:02d}", n // clusters) for c in range(clusters)], moves)
    path = root / ".organizer" / "plans" / "big.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan.to_json())
    return path


@needs_models
def test_a_plan_of_1000_videos_loads_in_under_2_seconds(tmp_path, page):
    manifest = big_plan(tmp_path)
    running = Review(manifest, "--idle-timeout", "300")
    try:
        page.goto(running.url, wait_until="load")
        # The browser's own clock: from the request to the load event (the page parsed, laid out, its script run).
        seconds = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventStart") / 1000
        assert page.get_by_role("article").count() == 1000
        assert page.locator("img").first.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
        assert seconds < 2.0, f"the page took {seconds:.2f} s to load"
        page.wait_for_function("document.querySelectorAll('article[data-filled]').length === 1000")
        move_to = page.get_by_role("article", name="in/video 999.mp4").get_by_label("Move to")
        assert move_to.locator("option").count() == 26 and move_to.input_value() == str(999 % 25)
    finally:
        running.stop()


@needs_models
def test_apply_of_a_reviewed_manifest_remembers_its_decisions_until_a_hand_move_overrides_them(library):
    """Without a browser: `organize apply` of a saved reviewed plan records its decisions; a video then moved by hand
    into another cluster folder follows the hand, also when the library is clustered again."""
    from organizer.moves.edit import Edits, edited_plan
    from organizer.store.state import LibraryState

    root, manifest = library
    plan = parse_plan(manifest.read_text())
    reviewed = edited_plan(plan, Edits({"a0.mp4": "_unsorted"}))
    saved = manifest.with_name("reviewed.json")
    saved.write_text(reviewed.to_json())
    runner = CliRunner()
    assert runner.invoke(main, ["apply", str(saved)]).exit_code == 0
    with LibraryState.open(root / ".organizer") as state:
        assert {c for kind, c in state.decisions().values()} == {"_unsorted"}
    home = cluster_of(reviewed, "a1.mp4")
    os.rename(root / "_unsorted" / "a0.mp4", root / home / "a0.mp4")                     # the user's hand
    night = runner.invoke(main, [str(root), "--model", str(MNV1), "--settle-seconds", "0"])
    assert night.exit_code == 0, night.output
    assert (root / home / "a0.mp4").is_file()
    with LibraryState.open(root / ".organizer") as state:
        assert state.decisions() == {}
    again = runner.invoke(main, [str(root), "--model", str(MNV1), "--recluster", "--dry-run", "--json",
                                 "--clusters", "3"])
    moves = parse_plan(Path(json.loads(again.output)["manifest"]).read_text()).moves
    assert not any(m.src == f"{home}/a0.mp4" and m.cluster == "_unsorted" for m in moves)
