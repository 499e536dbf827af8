"""The review server: the standard library's HTTP server on 127.0.0.1, for one person, in front of one session.

Guards, each tested by a request that it must refuse: a random token as the first part of every path (the URL the
command prints and opens); a Host that is this server (no DNS rebinding); for writes, an Origin that is this server
and a JSON body (no cross-origin form posts; no CORS headers are ever sent); only the page, its two static files
and the plan's own thumbnails (from the cache, by number) are served. The page is served with a content security
policy that allows no inline script.

The HTTP threads only read; saving and applying (the library's lock, state database and journal) run on the thread
that opened the library, handed over through a queue. The server stops on Ctrl-C or after `idle` seconds without a
request, and the caller then closes the library, releasing its lock.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import re
import secrets
import threading
import time
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from organizer.errors import OrganizerError
from organizer.review.page import asset, render
from organizer.review.session import ReviewSession

log = logging.getLogger(__name__)

BODY_LIMIT = 16 << 20             # an edit of a 100,000-video plan is a few MiB
POLICY = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
THUMB = re.compile(r"thumb/([0-9a-f]{1,64})/([0-9]{1,9})/([0-9]{1,4})\.jpg")


class ReviewServer:
    """Serve `session` on 127.0.0.1:`port` (0: a free port) until Ctrl-C or `idle` seconds without a request."""

    def __init__(self, session: ReviewSession, port: int = 0, idle: float = 1800.0):
        self.session = session
        self.idle = idle
        self.token = secrets.token_urlsafe(24)
        self.jobs: queue.Queue = queue.Queue()
        self.last_request = time.monotonic()
        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise OrganizerError(f"Cannot listen on 127.0.0.1 port {port} ({exc.strerror}); choose another with "
                                 "--port, or leave it out for a free one.") from None
        self.httpd.daemon_threads = True
        self.httpd.review = self
        self.port = self.httpd.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.token}/"

    def serve(self) -> str:
        """Run until idle (returns "idle") or Ctrl-C (KeyboardInterrupt propagates). Saving and applying run here."""
        thread = threading.Thread(target=self.httpd.serve_forever, name="organize-review", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    job, future = self.jobs.get(timeout=min(1.0, self.idle))
                except queue.Empty:
                    if time.monotonic() - self.last_request > self.idle:
                        return "idle"
                    continue
                try:
                    future.set_result(job())
                except BaseException as exc:          # the HTTP thread turns it into an answer
                    future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()

    def on_main_thread(self, job):
        """Run job() on the thread that owns the library and wait for its result."""
        future: Future = Future()
        self.jobs.put((job, future))
        return future.result()


class Handler(BaseHTTPRequestHandler):
    """One request: the guards first (_route, and the Origin check of writes), then the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "organize-review"
    sys_version = ""

    @property
    def review(self) -> ReviewServer:
        return self.server.review

    def log_message(self, fmt, *args):         # requests go to the debug log, not the terminal
        log.debug("review: " + fmt, *args)

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        if kind.startswith("text/html"):
            self.send_header("Content-Security-Policy", POLICY)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, data: dict) -> None:
        self._send(code, json.dumps(data, ensure_ascii=True).encode("ascii"), "application/json")

    def _refuse(self, code: int, why: str) -> None:
        log.warning("review: refused %s %s: %s", self.command, self.path.split("?")[0][:16] + "...", why)
        self.close_connection = True              # a body left unread must not be taken for the next request
        self._json(code, {"error": why})

    def _route(self) -> str | None:
        """The path after the token, or None when the request is refused (and answered)."""
        self.review.last_request = time.monotonic()
        if self.headers.get("Host") not in self.review.hosts:
            self._refuse(403, "This review only answers requests for its own address.")
            return None
        parts = self.path.split("?", 1)[0].split("/", 2)          # "", token, the rest
        token = parts[1] if len(parts) > 1 else ""
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self.review.token.encode()):
            self._refuse(403, "This address needs the review's token: open the URL organize review printed.")
            return None
        if len(parts) == 2:                      # the page's own links are relative to /<token>/
            self.send_response(308)
            self.send_header("Location", f"/{self.review.token}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return parts[2]

    def do_GET(self):
        rest = self._route()
        if rest is None:
            return
        if rest in ("", "/"):
            self._send(200, render(self.review.session).encode("utf-8"), "text/html; charset=utf-8")
        elif rest in ("style.css", "app.js"):
            kind = "text/css" if rest.endswith(".css") else "text/javascript"
            self._send(200, asset(rest), kind + "; charset=utf-8")
        elif (m := THUMB.fullmatch(rest)) and (image := _thumb(self.review.session, *m.groups())):
            self._send(200, image, "image/jpeg")
        else:
            self._json(404, {"error": "There is nothing here."})

    do_HEAD = do_GET

    def do_POST(self):
        rest = self._route()
        if rest is None:
            return
        if self.headers.get("Origin") not in self.review.origins:
            self._refuse(403, "Writes are only accepted from the review page itself.")
            return
        if self.headers.get_content_type() != "application/json":
            self._refuse(415, "Send the edits as JSON.")
            return
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if not 0 <= length <= BODY_LIMIT:
            self._refuse(413, "The request is too large or has no length.")
            return
        if rest not in ("save", "apply"):
            self._refuse(404, "There is nothing here.")
            return
        try:
            data = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._json(400, {"error": "The edits are not JSON; reload the page."})
            return
        try:
            answer = self.review.on_main_thread(lambda: getattr(self.review.session, rest)(data))
        except OrganizerError as exc:
            self._json(409, {"error": str(exc)})
        else:
            self._json(200, answer)

def _thumb(session: ReviewSession, plan_id: str, video: str, k: str) -> bytes | None:
    shown = session.shown.get(plan_id)
    if shown is None or int(video) >= len(shown) or int(k) >= len(shown[int(video)].thumbs):
        return None
    return shown[int(video)].thumbs[int(k)]
