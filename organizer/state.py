"""The library's memory between runs: PATH/.organizer/state.sqlite (SQLite, WAL).

Per video (keyed by a content fingerprint, so it survives moves): the analysis (frame features, keyframes, the
video vector, class scores, keyframe thumbnails) under the key of the model and settings that produced it. Per
cluster: its folder name and centroid. Per run: time, counts and journal id. Nothing here is needed to keep files
safe (the journal does that); losing this database costs only recomputation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import Settings
from .errors import LibraryNotWritable, StateError

log = logging.getLogger(__name__)

STATE_FILE = "state.sqlite"
APPLICATION_ID = 0x4F524731          # "ORG1": marks the file as ours (PRAGMA application_id)
SCHEMA_VERSION = 2
CHUNK = 1 << 20                      # the fingerprint hashes the first and the last MiB


def _script(db: sqlite3.Connection, sql: str) -> None:
    # executescript() would commit the migration's transaction half-way; run the statements one by one.
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1(db: sqlite3.Connection) -> None:
    _script(db, """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- where each known file is: the (dev, ino, size, mtime_ns) fast path that avoids re-hashing
        CREATE TABLE files (dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
                            mtime_ns INTEGER NOT NULL, path TEXT, fingerprint TEXT NOT NULL,
                            PRIMARY KEY (dev, ino));
        CREATE INDEX files_fingerprint ON files (fingerprint);
        -- one row per distinct content: the analysis, valid for the analysis_key that produced it.
        -- Small columns first: SQLite walks a row's overflow pages to reach columns behind a large blob.
        CREATE TABLE videos (
            fingerprint TEXT PRIMARY KEY,
            analysis_key TEXT NOT NULL,
            duration REAL, n_frames INTEGER, dim INTEGER,
            keyframes TEXT,                 -- JSON: indices, times, frame numbers, sharpness, dropped
            error TEXT,                     -- why the video could not be analysed (then no features)
            updated TEXT,
            vector BLOB,                    -- float32, dim (L2-normalised mean of keyframe features)
            class_scores BLOB,              -- float16 or NULL
            thumbnails TEXT                 -- JSON list of base64 JPEGs (keyframe thumbnails for the report)
        );
        -- the per-frame features (float16, n_frames x dim), apart: large, and read only on demand
        CREATE TABLE frame_features (fingerprint TEXT PRIMARY KEY, data BLOB NOT NULL);
        CREATE TABLE clusters (name TEXT PRIMARY KEY, centroid BLOB, size INTEGER NOT NULL DEFAULT 0,
                               created TEXT, updated TEXT);
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT, finished TEXT, mode TEXT,
                           videos INTEGER, new INTEGER, moved INTEGER, skipped INTEGER, downloading INTEGER,
                           errors INTEGER, seconds REAL, journal TEXT);
    """)


def _v2(db: sqlite3.Connection) -> None:
    # v2 remembers each file's cluster after the last run, so a renamed cluster folder can be recognised.
    db.execute("ALTER TABLE files ADD COLUMN cluster TEXT")


MIGRATIONS = {1: _v1, 2: _v2}      # version -> step from version-1; never edit a released step, add one


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fingerprint(path: Path, size: int, duration: float | None) -> str:
    """Content identity: size, a hash of the first and last MiB, and the duration (None: not known)."""
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as fh:
        h.update(fh.read(CHUNK))
        if size > 2 * CHUNK:
            fh.seek(size - CHUNK)
            h.update(fh.read(CHUNK))
        elif size > CHUNK:
            h.update(fh.read())
    dur = "na" if duration is None else f"{duration:.1f}"
    return f"{size}-{h.hexdigest()}-{dur}"


def analysis_key(settings: Settings) -> str:
    """Everything that decides a cached analysis: the model (name, weights, file identity) and the settings."""
    ident = dict(settings.feature_identity())
    if ident.get("weights") == "random":
        ident["seed"] = settings.seed
    for attr in ("features_model", "features_labels", "features_weights"):
        value = getattr(settings, attr)
        if value and value not in ("imagenet", "random"):
            try:
                st = os.stat(value)
                ident[attr] = [os.path.abspath(value), st.st_size, st.st_mtime_ns]
            except OSError:
                ident[attr] = [value]
    ident["keyframes"] = {k: v for k, v in settings.as_dict().items() if k.startswith("keyframes.")}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class CachedVideo:
    fingerprint: str
    duration: float
    n_frames: int
    keyframes: dict
    vector: np.ndarray
    class_scores: np.ndarray | None
    thumbnails_json: str | None
    error: str | None = None


@dataclass
class ClusterRow:
    name: str
    centroid: np.ndarray | None
    size: int


def _blob(a: np.ndarray | None, dtype) -> bytes | None:
    return None if a is None else np.ascontiguousarray(a, dtype=dtype).tobytes()


class LibraryState:
    """One library's state database. Use as a context manager; every write commits immediately."""

    def __init__(self, path: Path, db: sqlite3.Connection):
        self.path = path
        self.db = db

    # ---------------------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, state_dir: Path, rebuild: bool = False) -> "LibraryState":
        state_dir = Path(state_dir)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from .mover import not_writable
            raise LibraryNotWritable(not_writable(state_dir, exc)) from None
        path = state_dir / STATE_FILE
        if rebuild and path.exists():
            aside = path.with_name(f"{STATE_FILE}.broken-{datetime.now().strftime('%Y%m%dT%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(str(path) + suffix):
                    os.replace(str(path) + suffix, str(aside) + suffix)
            log.warning("moved the old state database aside to %s; features will be recomputed", aside)
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                state = cls(path, db)
                state._prepare()
            except BaseException:
                db.close()
                raise
        except sqlite3.DatabaseError as exc:
            raise StateError(cls._damaged(path, str(exc))) from None
        return state

    @classmethod
    def memory(cls) -> "LibraryState":
        """A throw-away state (library use without a database file)."""
        state = cls(Path(":memory:"), sqlite3.connect(":memory:", isolation_level=None))
        state._prepare()
        return state

    @staticmethod
    def _damaged(path: Path, detail: str) -> str:
        return (f"The state database {path} is damaged or is not organize's ({detail}). Your videos are untouched. "
                "Run again with --rebuild-state to move it aside and start a fresh one (features are then "
                "recomputed).")

    def _prepare(self) -> None:
        db = self.db
        app = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        if app not in (0, APPLICATION_ID) or (app == 0 and tables):
            raise StateError(self._damaged(self.path, "it holds another program's tables"))
        if version > SCHEMA_VERSION:
            raise StateError(f"The state database {self.path} was written by a newer organize (schema {version}; "
                             f"this one reads up to {SCHEMA_VERSION}). Upgrade organize, or run with "
                             "--rebuild-state to start a fresh database with this version.")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            with self._write():
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[step](db)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        # A quick structural check: a damaged file usually fails here rather than mid-run.
        ok = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if ok != "ok":
            raise StateError(self._damaged(self.path, f"integrity check: {ok}"))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "LibraryState":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self):
        """One write transaction; any SQLite error becomes the clear StateError."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StateError(self._damaged(self.path, str(exc))) from None

    def _guard(self, fn):
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            raise StateError(self._damaged(self.path, str(exc))) from None

    # ------------------------------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        row = self._guard(lambda: self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone())
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._guard(lambda: self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value)))

    def library_mean(self) -> np.ndarray | None:
        text = self.get_meta("library_mean")
        return None if text is None else np.asarray(json.loads(text), dtype=np.float32)

    def set_library_mean(self, mean: np.ndarray) -> None:
        self.set_meta("library_mean", json.dumps([round(float(x), 7) for x in mean]))

    # ---------------------------------------------------------------------------------------- videos
    def stat_index(self) -> dict[tuple[int, int], tuple[int, int, str]]:
        """(dev, ino) -> (size, mtime_ns, fingerprint) for every known file: the no-hash fast path."""
        rows = self._guard(lambda: self.db.execute(
            "SELECT dev, ino, size, mtime_ns, fingerprint FROM files").fetchall())
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}

    def remember_files(self, rows: list[tuple[int, int, int, int, str, str]]) -> None:
        """Record (dev, ino, size, mtime_ns, path, fingerprint) for files met this run."""
        if rows:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO files (dev, ino, size, mtime_ns, path, fingerprint) "
                               "VALUES (?,?,?,?,?,?)", rows)

    def forget_files(self, present: set[tuple[int, int]]) -> int:
        """Drop files no longer in the library, and analyses no file refers to any more."""
        known = set(self.stat_index())
        gone = sorted(known - present)
        if gone:
            with self._write() as db:
                db.executemany("DELETE FROM files WHERE dev=? AND ino=?", gone)
                db.execute("DELETE FROM videos WHERE fingerprint NOT IN (SELECT fingerprint FROM files)")
                db.execute("DELETE FROM frame_features WHERE fingerprint NOT IN (SELECT fingerprint FROM videos)")
        return len(gone)

    def store_analysis(self, fp: str, key: str, duration: float, keyframes: dict, vector: np.ndarray,
                       frame_features: np.ndarray, class_scores: np.ndarray | None,
                       thumbnails_json: str | None) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO videos (fingerprint, analysis_key, duration, n_frames, dim, keyframes, "
                "updated, vector, class_scores, thumbnails) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (fp, key, float(duration), int(frame_features.shape[0]), int(frame_features.shape[1]),
                 json.dumps(keyframes), now_iso(), _blob(vector, np.float32), _blob(class_scores, np.float16),
                 thumbnails_json))
            db.execute("INSERT OR REPLACE INTO frame_features VALUES (?, ?)", (fp, _blob(frame_features, np.float16)))

    def cached(self, fps: list[str], key: str, with_thumbnails: bool = False) -> dict[str, CachedVideo]:
        """The analyses of these fingerprints that were made with this analysis key."""
        out: dict[str, CachedVideo] = {}
        cols = "fingerprint, duration, n_frames, keyframes, vector, class_scores, error"   # index 0..6
        cols += ", thumbnails" if with_thumbnails else ", NULL"
        fps = sorted(set(fps))
        for start in range(0, len(fps), 500):
            part = fps[start:start + 500]
            q = f"SELECT {cols} FROM videos WHERE analysis_key=? AND fingerprint IN ({','.join('?' * len(part))})"
            for row in self._guard(lambda: self.db.execute(q, (key, *part)).fetchall()):
                if row[6] is not None:
                    out[row[0]] = CachedVideo(row[0], 0.0, 0, {}, np.zeros(0, np.float32), None, None, row[6])
                    continue
                out[row[0]] = CachedVideo(
                    row[0], row[1], row[2], json.loads(row[3]), np.frombuffer(row[4], np.float32).copy(),
                    None if row[5] is None else np.frombuffer(row[5], np.float16).astype(np.float32), row[7])
        return out

    def store_failure(self, fp: str, key: str, reason: str) -> None:
        """Remember that this content cannot be analysed, so nightly runs do not decode it again."""
        self._guard(lambda: self.db.execute(
            "INSERT OR REPLACE INTO videos (fingerprint, analysis_key, error, updated) VALUES (?,?,?,?)",
            (fp, key, reason, now_iso())))

    def frame_features(self, fp: str) -> np.ndarray | None:
        row = self._guard(lambda: self.db.execute(
            "SELECT f.data, v.n_frames, v.dim FROM frame_features f JOIN videos v USING (fingerprint) "
            "WHERE fingerprint=?", (fp,)).fetchone())
        if not row or row[0] is None:
            return None
        return np.frombuffer(row[0], np.float16).astype(np.float32).reshape(row[1], row[2])

    def set_video_clusters(self, members: dict[str, str]) -> None:
        with self._write() as db:
            db.execute("UPDATE files SET cluster=NULL")
            db.executemany("UPDATE files SET cluster=? WHERE fingerprint=?",
                                [(c, fp) for fp, c in members.items()])

    def last_clusters(self) -> dict[str, str]:
        """fingerprint -> the cluster folder the video was in after the last run."""
        rows = self._guard(lambda: self.db.execute(
            "SELECT fingerprint, cluster FROM files WHERE cluster IS NOT NULL").fetchall())
        return dict(rows)

    # -------------------------------------------------------------------------------------- clusters
    def clusters(self) -> list[ClusterRow]:
        rows = self._guard(lambda: self.db.execute(
            "SELECT name, centroid, size FROM clusters ORDER BY name").fetchall())
        return [ClusterRow(r[0], None if r[1] is None else np.frombuffer(r[1], np.float32).copy(), r[2])
                for r in rows]

    def save_clusters(self, rows: list[ClusterRow]) -> None:
        """Replace the cluster table (names are kept by the caller; this only stores them)."""
        with self._write() as db:
            created = dict(db.execute("SELECT name, created FROM clusters").fetchall())
            db.execute("DELETE FROM clusters")
            db.executemany("INSERT INTO clusters VALUES (?,?,?,?,?)", [
                (r.name, _blob(r.centroid, np.float32), r.size, created.get(r.name, now_iso()), now_iso())
                for r in rows])

    # ------------------------------------------------------------------------------------------ runs
    def record_run(self, started: str, mode: str, counts: dict[str, int], seconds: float,
                   journal: str | None) -> None:
        self._guard(lambda: self.db.execute(
            "INSERT INTO runs (started, finished, mode, videos, new, moved, skipped, downloading, errors, seconds,"
            " journal) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (started, now_iso(), mode, counts.get("videos", 0), counts.get("new", 0), counts.get("moved", 0),
             counts.get("skipped", 0), counts.get("downloading", 0), counts.get("errors", 0),
             round(seconds, 3), journal)))

    def runs(self) -> list[dict]:
        cur = self._guard(lambda: self.db.execute("SELECT * FROM runs ORDER BY id"))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
