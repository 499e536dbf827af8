"""The state database's schema, as a list of migrations. Never edit a released step; add one."""

from __future__ import annotations

import json
import sqlite3

import numpy as np

APPLICATION_ID = 0x4F524731          # "ORG1": marks the file as ours (PRAGMA application_id)


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


def _v3(db: sqlite3.Connection) -> None:
    # v3 stores the library mean exactly (float32 bytes, not rounded JSON) beside the feature space the clusters
    # live in (unknown for clusters made before: their dimension is checked instead), and remembers moves that
    # could not be completed so that a nightly run does not retry them every night.
    row = db.execute("SELECT value FROM meta WHERE key='library_mean'").fetchone()
    if row:
        mean = np.asarray(json.loads(row[0]), dtype=np.float32)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('library_mean_blob', ?)", (mean.tobytes().hex(),))
        db.execute("DELETE FROM meta WHERE key='library_mean'")
    db.execute("CREATE TABLE move_failures (fingerprint TEXT PRIMARY KEY, reason TEXT NOT NULL, updated TEXT)")


def _v4(db: sqlite3.Connection) -> None:
    # v4 remembers what a person decided in `organize review`: a video kept in a cluster of their choice, or left
    # where it is. These are the user's decisions, not derived data: nothing recomputes them.
    db.execute("CREATE TABLE decisions (fingerprint TEXT PRIMARY KEY, kind TEXT NOT NULL, cluster TEXT, "
               "src TEXT, made TEXT)")


def _v5(db: sqlite3.Connection) -> None:
    # v5 keeps each analysis's keyframe features (float16, a row per keyframe; NULL for analyses made before) and
    # a 16x16 grey thumbnail of each keyframe, so that library-level statistics never decode a video again, and which keyframes are library furniture with
    # the vector grouping uses without them (NULL: the vector as analysed). The furniture pictures themselves
    # live in meta, with the analysis key they were found under.
    for column in ("keyframe_features BLOB", "keyframe_looks BLOB", "furniture TEXT", "grouping BLOB"):
        db.execute(f"ALTER TABLE videos ADD COLUMN {column}")


def _v6(db: sqlite3.Connection) -> None:
    # v6 keeps each analysis's timeline (analysis/timeline.py: a 16x16 grey image every 0.25 s, zlib-compressed;
    # NULL for analyses made before, whose copies are then found from their keyframes alone).
    for column in ("timeline BLOB", "timeline_step REAL"):
        db.execute(f"ALTER TABLE videos ADD COLUMN {column}")


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6}      # version -> the step from version-1
SCHEMA_VERSION = max(MIGRATIONS)
