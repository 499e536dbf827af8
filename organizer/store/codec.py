"""How an analysis is stored in a row of the state database, and read back. Only state.py uses this."""

from __future__ import annotations

import base64
import json
import logging
import zlib

import numpy as np

from organizer.clock import now_iso
from organizer.types import Analysis, Keyframes

log = logging.getLogger(__name__)


def to_blob(a: np.ndarray | None, dtype) -> bytes | None:
    return None if a is None else np.ascontiguousarray(a, dtype=dtype).tobytes()


def from_blob(data: bytes | None, dtype) -> np.ndarray | None:
    return None if data is None else np.frombuffer(data, dtype).copy()


def packed(a: np.ndarray | None) -> bytes | None:
    """uint8 rows, zlib-compressed (a timeline: grey images compress to about half)."""
    return None if a is None else zlib.compress(np.ascontiguousarray(a, np.uint8).tobytes(), 6)


def unpacked(data: bytes | None, width: int) -> np.ndarray | None:
    """The rows of `packed`, or None when missing or not whole rows."""
    try:
        raw = zlib.decompress(data) if data else b""
    except zlib.error:
        log.warning("a stored timeline does not decode; copies of that video are found from its keyframes")
        return None
    return np.frombuffer(raw, np.uint8).reshape(-1, width).copy() if raw and len(raw) % width == 0 else None


def vector_or_none(data) -> np.ndarray | None:
    """A float32 vector from a blob (or its hex text); None when missing, malformed or not finite."""
    try:
        raw = bytes.fromhex(data) if isinstance(data, str) else data
        vec = from_blob(raw, np.float32)
    except (ValueError, TypeError):
        log.warning("a stored vector does not decode; it is derived again")
        return None
    return vec if vec is not None and len(vec) and np.isfinite(vec).all() else None


def encode_analysis(a: Analysis) -> tuple:
    """(duration, n_frames, dim, keyframes, updated, vector, class_scores, thumbnails) column values."""
    k = a.keyframes
    keyframes = {"indices": list(k.indices), "times": list(k.times), "frame_numbers": list(k.frame_numbers),
                 "sharpness": list(k.sharpness), "dropped": dict(k.dropped), "reused": a.reused,
                 "cnn_frames": a.cnn_frames, "weights": [round(float(w), 6) for w in a.keyframe_weights],
                 "width": a.width, "height": a.height}
    thumbs = json.dumps([base64.b64encode(t).decode("ascii") for t in a.thumbnails])
    return (float(a.duration), int(a.n_frames), a.dim, json.dumps(keyframes), now_iso(),
            to_blob(a.vector, np.float32), to_blob(a.class_scores, np.float16), thumbs)


def decode_analysis(duration, n_frames, keyframes, vector, class_scores, thumbnails, keyframe_features=None,
                    furniture=None, grouping=None) -> Analysis | None:
    """The analysis of a row, or None when the row does not decode (it is then analysed again). With furniture
    marked, `grouping` is the vector without the furniture keyframes."""
    try:
        k = json.loads(keyframes)
        kf = Keyframes(tuple(int(i) for i in k["indices"]), tuple(float(t) for t in k["times"]),
                       tuple(int(n) for n in k["frame_numbers"]), tuple(float(s) for s in k["sharpness"]),
                       tuple(sorted((str(g), int(n)) for g, n in k.get("dropped", {}).items())))
        vec = from_blob(vector, np.float32)
        if vec is None or not len(vec) or not np.isfinite(vec).all():
            return None
        scores = from_blob(class_scores, np.float16)
        thumbs = tuple(base64.b64decode(t) for t in json.loads(thumbnails)) if thumbnails else ()
        feats = from_blob(keyframe_features, np.float16)
        feats = feats.reshape(len(kf.indices), len(vec)) if feats is not None and len(feats) == len(kf.indices) * len(
            vec) else None
        marks = tuple(int(i) for i in json.loads(furniture)) if furniture else ()
        better = from_blob(grouping, np.float32) if marks else None
        if better is not None and (len(better) != len(vec) or not np.isfinite(better).all()):
            better, marks = None, ()
        if better is None and len(marks) < len(kf.indices):          # only a bare video has no grouping vector
            marks = ()
        return Analysis(float(duration), int(n_frames), kf, vec,
                        None if scores is None else scores.astype(np.float32), thumbs,
                        reused=int(k.get("reused", 0)), cnn_frames=int(k.get("cnn_frames", 0)),
                        keyframe_features=feats, keyframe_weights=tuple(float(w) for w in k.get("weights", ())),
                        furniture=marks, grouping=better, width=int(k.get("width", 0)), height=int(k.get("height", 0)))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("undecodable analysis row: %s", exc)
        return None
