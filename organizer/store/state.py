"""The library's memory between runs: PATH/.organizer/state.sqlite (SQLite, WAL), with typed rows in and out.

Per video (keyed by a content fingerprint, so it survives moves): its analysis under the key of the model and
settings that produced it, or the reason it could not be analysed. Per cluster: folder name and centroid, in the
feature space recorded with them. Per run: time, counts and journal id. Nothing here keeps files safe (the journal
does that); losing this database costs only recomputation. This module alone knows how rows are encoded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from organizer.errors import LibraryNotWritable, StateBusy, StateError
from organizer.layout import not_writable
from organizer.clock import now_iso, stamp
from organizer.store.codec import decode_analysis, encode_analysis, from_blob, packed, to_blob, vector_or_none
from organizer.store.furniture import FurnitureStore
from organizer.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from organizer.types import Analysis, ClusterRow, ClusterSet

log = logging.getLogger(__name__)

STATE_FILE = "state.sqlite"
BUSY_SECONDS = 30.0          # how long to wait for another program's write lock before saying so


@dataclass(frozen=True)
class FileRow:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    path: str
    fingerprint: str


@dataclass(frozen=True)
class Lookup:
    """What the cache knows of some fingerprints under one analysis key."""

    analyses: dict[str, Analysis] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)      # fingerprint -> why it could not be analysed


@dataclass(frozen=True)
class RunRecord:
    started: str
    mode: str
    videos: int = 0
    new: int = 0
    moved: int = 0
    skipped: int = 0
    downloading: int = 0
    errors: int = 0
    seconds: float = 0.0
    journal: str | None = None


def damaged(path: Path, detail: str) -> str:
    return (f"The state database {path} is damaged or is not organize's ({detail}). Your videos are untouched. "
            "Run again with --rebuild-state to move it aside and start a fresh one (features are then "
            "recomputed).")


def busy(path: Path) -> str:
    return (f"The state database {path} is busy: another program (a database browser, a backup tool, a sync client) "
            f"has held a write lock on it for over {BUSY_SECONDS:.0f} s. Nothing was changed by this step; close "
            "that program and run again. The database is not damaged.")


def _sqlite_error(path: Path, exc: sqlite3.Error) -> Exception:
    """The clear error for an SQLite failure: a full or unwritable disk, or a database another program holds,
    is not a damaged database."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in str(exc):
        return StateBusy(busy(path))
    if primary == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
        return LibraryNotWritable(not_writable(path.parent, OSError(28, "the disk is full")))
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM):
        return LibraryNotWritable(not_writable(path.parent, OSError(13, str(exc))))
    return StateError(damaged(path, str(exc)))


class LibraryState(FurnitureStore):
    """One library's state database. Use as a context manager; every write commits immediately."""

    def __init__(self, path: Path, db: sqlite3.Connection):
        self.path = path
        self.db = db

    # ------------------------------------------------------------------------------------------ opening
    @classmethod
    def open(cls, state_dir: Path, rebuild: bool = False) -> "LibraryState":
        state_dir = Path(state_dir)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryNotWritable(not_writable(state_dir, exc)) from None
        path = state_dir / STATE_FILE
        if rebuild:
            cls._move_aside(path)
        try:
            db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise _sqlite_error(path, exc) from None
        state = cls(path, db)
        try:
            state._prepare()
        except BaseException:
            db.close()
            raise
        return state

    @classmethod
    def memory(cls) -> "LibraryState":
        """A throw-away state (library use without a database file)."""
        state = cls(Path(":memory:"), sqlite3.connect(":memory:", isolation_level=None))
        state._prepare()
        return state

    @staticmethod
    def _move_aside(path: Path) -> None:
        if not path.exists():
            return
        aside = path.with_name(f"{STATE_FILE}.broken-{stamp()}")
        try:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(str(path) + suffix):
                    os.replace(str(path) + suffix, str(aside) + suffix)
        except OSError as exc:
            raise LibraryNotWritable(f"Cannot move the state database {path} aside ({exc.strerror}); nothing was "
                                     "changed. Check the permissions of the file and its folder (an immutable "
                                     "file needs `chattr -i`), then run again.") from None
        log.warning("moved the old state database aside to %s; features will be recomputed", aside)

    def _prepare(self) -> None:
        with self._errors():
            db = self.db
            app = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if app not in (0, APPLICATION_ID) or (app == 0 and tables):
                raise StateError(damaged(self.path, "it holds another program's tables"))
            if version > SCHEMA_VERSION:
                raise StateError(f"The state database {self.path} was written by a newer organize (schema "
                                 f"{version}; this one reads up to {SCHEMA_VERSION}). Upgrade organize, or run with "
                                 "--rebuild-state to start a fresh database with this version.")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if version < SCHEMA_VERSION:
                with self._write():
                    for step in range(version + 1, SCHEMA_VERSION + 1):
                        MIGRATIONS[step](db)
                    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            ok = db.execute("PRAGMA quick_check(1)").fetchone()[0]   # damage usually shows here, not mid-run
            if ok != "ok":
                raise StateError(damaged(self.path, f"integrity check: {ok}"))

    def check_writable(self) -> None:
        """Take and release the write lock (waiting up to BUSY_SECONDS): a run finds out that another program
        holds the database before it moves anything, not after."""
        with self._write():
            pass

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "LibraryState":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except sqlite3.Error as exc:
            raise _sqlite_error(self.path, exc) from None

    @contextlib.contextmanager
    def _write(self):
        """One write transaction; any SQLite error becomes the clear error."""
        with self._errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:           # SQLite rolls back by itself on some errors (a full disk)
                    self.db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._errors():
            return self.db.execute(sql, args).fetchall()

    # --------------------------------------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -------------------------------------------------------------------------------------------- files
    def stat_index(self) -> dict[tuple[int, int], tuple[int, int, str]]:
        """(dev, ino) -> (size, mtime_ns, fingerprint) for every known file: the no-hash fast path."""
        rows = self._read("SELECT dev, ino, size, mtime_ns, fingerprint FROM files")
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}

    def remember_files(self, rows: list[FileRow]) -> None:
        if rows:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO files (dev, ino, size, mtime_ns, path, fingerprint) "
                               "VALUES (?,?,?,?,?,?)",
                               [(r.dev, r.ino, r.size, r.mtime_ns, os.fsencode(r.path), r.fingerprint) for r in rows])

    def forget_files(self, present: set[tuple[int, int]]) -> int:
        """Drop files no longer in the library, and analyses no file refers to any more."""
        gone = sorted(set(self.stat_index()) - present)
        if gone:
            with self._write() as db:
                db.executemany("DELETE FROM files WHERE dev=? AND ino=?", gone)
                db.execute("DELETE FROM videos WHERE fingerprint NOT IN (SELECT fingerprint FROM files)")
                db.execute("DELETE FROM frame_features WHERE fingerprint NOT IN (SELECT fingerprint FROM videos)")
        return len(gone)

    def set_memberships(self, members: dict[str, str]) -> None:
        """fingerprint -> the cluster folder the video is in after this run (used to recognise renamed folders)."""
        with self._write() as db:
            db.execute("UPDATE files SET cluster=NULL")
            db.executemany("UPDATE files SET cluster=? WHERE fingerprint=?", [(c, fp) for fp, c in members.items()])

    def memberships(self) -> dict[str, str]:
        return dict(self._read("SELECT fingerprint, cluster FROM files WHERE cluster IS NOT NULL"))

    # ----------------------------------------------------------------------------------------- analyses
    def store_analysis(self, fp: str, key: str, analysis: Analysis) -> None:
        row = encode_analysis(analysis)
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO videos (fingerprint, analysis_key, duration, n_frames, dim, keyframes, "
                       "updated, vector, class_scores, thumbnails, keyframe_features, keyframe_looks, timeline, "
                       "timeline_step) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (fp, key, *row, to_blob(analysis.keyframe_features, np.float16),
                        to_blob(analysis.keyframe_looks, np.uint8), packed(analysis.timeline),
                        analysis.timeline_step or None))
            db.execute("DELETE FROM frame_features WHERE fingerprint=?", (fp,))
            if analysis.frame_features is not None:
                db.execute("INSERT INTO frame_features VALUES (?, ?)", (fp, to_blob(analysis.frame_features,
                                                                                     np.float16)))

    def store_failure(self, fp: str, key: str, reason: str) -> None:
        """Remember that this content cannot be analysed, so nightly runs do not decode it again."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO videos (fingerprint, analysis_key, error, updated) VALUES (?,?,?,?)",
                       (fp, key, reason, now_iso()))

    def forget_failures(self, key: str) -> int:
        with self._write() as db:
            return db.execute("DELETE FROM videos WHERE analysis_key=? AND error IS NOT NULL", (key,)).rowcount

    def lookup(self, fps: list[str], key: str, with_thumbnails: bool = False, with_keyframes: bool = False
               ) -> Lookup:
        """The analyses (and remembered failures) of these fingerprints made under this analysis key. A row that
        does not decode counts as not cached: the video is analysed again."""
        found = Lookup()
        cols = "fingerprint, error, duration, n_frames, keyframes, vector, class_scores, " + (
            "thumbnails" if with_thumbnails else "NULL") + (", keyframe_features" if with_keyframes else ", NULL") + (
            ", furniture, grouping")
        for fp, error, *row in self._videos(cols, "", fps, key):
            if error is not None:
                found.failures[fp] = error
                continue
            analysis = decode_analysis(*row)
            if analysis is None:
                log.warning("the cached analysis of %s does not decode; it is made again", fp)
            else:
                found.analyses[fp] = analysis
        return found

    def _videos(self, cols: str, where: str, fps: list[str], key: str):
        """Rows (`cols`) of the videos table for these fingerprints under this analysis key, 500 fingerprints a
        query (SQLite's limit on parameters); `where`: more conditions, each followed by AND."""
        unique = sorted(set(fps))
        for start in range(0, len(unique), 500):
            part = unique[start:start + 500]
            yield from self._read(f"SELECT {cols} FROM videos WHERE analysis_key=? AND {where}fingerprint IN "
                                  f"({','.join('?' * len(part))})", (key, *part))

    def frame_features(self, fp: str) -> np.ndarray | None:
        rows = self._read("SELECT f.data, v.n_frames, v.dim FROM frame_features f JOIN videos v USING (fingerprint) "
                          "WHERE fingerprint=?", (fp,))
        if not rows:
            return None
        data, n, dim = rows[0]
        return from_blob(data, np.float16).astype(np.float32).reshape(n, dim)

    # ------------------------------------------------------------------------------------- stuck moves
    def remember_stuck(self, reasons: dict[str, str]) -> None:
        """Contents whose move could not be completed (the source could not be removed): not planned again."""
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO move_failures VALUES (?, ?, ?)",
                           [(fp, reason, now_iso()) for fp, reason in reasons.items() if fp])

    def stuck(self) -> dict[str, str]:
        return dict(self._read("SELECT fingerprint, reason FROM move_failures"))

    def forget_stuck(self) -> None:
        with self._write() as db:
            db.execute("DELETE FROM move_failures")

    # ---------------------------------------------------------------------------------------- decisions
    def remember_decisions(self, decisions: list[tuple[str, str, str, str]]) -> None:
        """(fingerprint, kind, cluster, src) per video a person decided about in `organize review`; a newer
        decision about a video replaces the older one."""
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?)",
                           [(fp, kind, cluster, src, now_iso()) for fp, kind, cluster, src in decisions if fp])

    def decisions(self) -> dict[str, tuple[str, str]]:
        """fingerprint -> (kind, cluster): "cluster" (keep it in that folder) or "exclude" (leave it where it is)."""
        return {fp: (kind, cluster or "") for fp, kind, cluster in
                self._read("SELECT fingerprint, kind, cluster FROM decisions")}

    def forget_decisions(self, fps: set[str] | None = None) -> None:
        """Forget these videos' decisions (None: every decision)."""
        with self._write() as db:
            if fps is None:
                db.execute("DELETE FROM decisions")
            else:
                db.executemany("DELETE FROM decisions WHERE fingerprint=?", [(fp,) for fp in sorted(fps)])

    # ----------------------------------------------------------------------------------------- clusters
    def clusters(self) -> ClusterSet:
        """The stored clusters. A centroid or mean that does not decode is dropped (it is derived again from
        the folders), never a traceback."""
        rows = self._read("SELECT name, centroid, size FROM clusters ORDER BY name")
        mean = self.get_meta("library_mean_blob")
        try:
            threshold = float(self.get_meta("max_distance") or "nan")
        except ValueError:
            threshold = float("nan")
        return ClusterSet(tuple(ClusterRow(str(n), vector_or_none(c), int(s or 0)) for n, c, s in rows),
                          vector_or_none(mean), self.get_meta("feature_space"),
                          threshold if 0.0 <= threshold <= 2.0 else None, self.get_meta("max_distance_why") or "",
                          int(self.get_meta("max_distance_videos") or 0) if (self.get_meta(
                              "max_distance_videos") or "0").isdigit() else 0)

    def save_clusters(self, clusters: ClusterSet) -> None:
        """Replace the clusters, their library mean, feature space and calibrated max_distance."""
        with self._write() as db:
            created = dict(db.execute("SELECT name, created FROM clusters").fetchall())
            db.execute("DELETE FROM clusters")
            db.executemany("INSERT INTO clusters VALUES (?,?,?,?,?)", [
                (r.name, to_blob(r.centroid, np.float32), r.size, created.get(r.name, now_iso()), now_iso())
                for r in clusters.rows])
            for key, value in (("library_mean_blob", None if clusters.mean is None else
                                to_blob(clusters.mean, np.float32).hex()), ("feature_space", clusters.space),
                               ("max_distance", None if clusters.max_distance is None else repr(clusters.max_distance)),
                               ("max_distance_why", clusters.max_distance_why or None),
                               ("max_distance_videos", str(clusters.max_distance_videos) if clusters.max_distance_videos
                                else None)):
                if value is None:
                    db.execute("DELETE FROM meta WHERE key=?", (key,))
                else:
                    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --------------------------------------------------------------------------------------------- runs
    def record_run(self, run: RunRecord) -> None:
        with self._write() as db:
            db.execute("INSERT INTO runs (started, finished, mode, videos, new, moved, skipped, downloading, errors, "
                       "seconds, journal) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (run.started, now_iso(), run.mode, run.videos, run.new, run.moved, run.skipped,
                        run.downloading, run.errors, round(run.seconds, 3), run.journal))

    def runs(self) -> list[dict]:
        with self._errors():
            cur = self.db.execute("SELECT * FROM runs ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
