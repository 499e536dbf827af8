"""What the state keeps for library-level statistics (issue 25): each analysis's keyframe features and looks,
which keyframes are library furniture with the vector grouping uses without them, and the furniture pictures.
A part of LibraryState (a mixin: it uses the state's own reads and writes)."""

from __future__ import annotations

import json
import logging

import numpy as np

from organizer.store.codec import from_blob, to_blob, unpacked, vector_or_none
from organizer.types import Furniture, Picture

log = logging.getLogger(__name__)


class FurnitureStore:
    def keyframe_data(self, fps: list[str], key: str) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """The stored keyframe features (float32, a row per keyframe) and 16x16 grey looks (uint8 rows, or None) of
        these analyses, where they have features."""
        found = {}
        for fp, data, looks, dim in self._videos("fingerprint, keyframe_features, keyframe_looks, dim",
                                                 "keyframe_features IS NOT NULL AND ", fps, key):
            rows = from_blob(data, np.float16)
            if not dim or len(rows) % dim:
                continue
            rows = rows.astype(np.float32).reshape(-1, dim)
            seen = from_blob(looks, np.uint8)
            found[fp] = (rows, seen.reshape(len(rows), -1) if seen is not None and len(seen) and len(
                seen) % len(rows) == 0 else None)
        return found

    def timelines(self, fps: list[str], key: str) -> dict[str, tuple[np.ndarray, float]]:
        """The stored timelines (uint8, a flattened 16x16 grey image per step) and their steps in seconds, of these
        analyses, where they have one (analyses made before schema v6 have none)."""
        found = {}
        for fp, data, step in self._videos("fingerprint, timeline, timeline_step",
                                           "timeline IS NOT NULL AND timeline_step > 0 AND ", fps, key):
            rows = unpacked(data, 256)
            if rows is not None:
                found[fp] = (rows, float(step))
        return found

    def mark_furniture(self, marks: dict[str, tuple[tuple[int, ...], np.ndarray | None]], key: str) -> None:
        """Store which keyframes of each analysis are furniture, and its vector without them (None: unmarked)."""
        with self._write() as db:
            db.executemany("UPDATE videos SET furniture=?, grouping=? WHERE fingerprint=? AND analysis_key=?",
                           [(json.dumps(list(m)) if m else None, to_blob(v, np.float32) if m else None, fp, key)
                            for fp, (m, v) in marks.items()])

    def furniture(self, key: str):
        """The furniture pictures found under this analysis key (without marks: those are stored per analysis)."""
        try:
            data = json.loads(self.get_meta("furniture") or "{}")
            if data.get("key") != key:
                return Furniture()
            mean = vector_or_none(data["mean"])
            pictures = tuple(Picture(vector_or_none(p["feature"]), int(p["videos"]), str(p["example"]),
                                     int(p.get("keyframe", 0))) for p in data["pictures"])
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("the stored furniture pictures do not decode; they are found again")
            return Furniture()
        if mean is None or any(p.feature is None or len(p.feature) != len(mean) for p in pictures):
            return Furniture()
        return Furniture(pictures, mean)

    def knows_furniture(self, key: str) -> bool:
        """Whether a run under this analysis key looked for furniture (then a run with nothing new need not)."""
        return f'"key": {json.dumps(key)}' in (self.get_meta("furniture") or "")

    def save_furniture(self, key: str, furniture: Furniture) -> None:
        data = {"key": key, "mean": None if furniture.mean is None else to_blob(furniture.mean, np.float32).hex(),
                "pictures": [{"feature": to_blob(p.feature, np.float32).hex(), "videos": p.videos,
                              "example": p.example, "keyframe": p.keyframe} for p in furniture.pictures]}
        self.set_meta("furniture", json.dumps(data))

    def reposts(self, key: str) -> list[list[str]]:
        """The groups of analyses (fingerprints) found to be one video under this analysis key."""
        try:
            data = json.loads(self.get_meta("same_video") or "{}")
            groups = data.get("groups", []) if data.get("key") == key else []
            return [[str(fp) for fp in g] for g in groups if isinstance(g, list)]
        except (ValueError, TypeError, AttributeError):
            log.warning("the stored groups of copies do not decode; they are found again")
            return []

    def save_reposts(self, key: str, groups: list[list[str]]) -> None:
        self.set_meta("same_video", json.dumps({"key": key, "groups": groups}))
