"""Wire the stages: scan -> decode -> features -> keyframes -> clustering -> plan. One bad video never aborts."""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

from .clustering import (VideoClusterer, cluster_names, library_mean, match_clusters, next_number, prepare)
from .clustering import distances as distances_to
from .config import Settings
from .decode import frames_at, probe_duration, sample_video, scale_to_work
from .errors import NothingProcessed, OrganizerError, VideoUnreadable
from .features import FeatureBackend, embed_frames, load_backend
from .keyframes import KeyframeSelector, l2n
from .planner import Plan, build_plan
from .scan import scan
from .state import CachedVideo, ClusterRow, LibraryState, analysis_key, fingerprint
from .types import Failure, Keyframes, SampledFrames, VideoFile, VideoResult

log = logging.getLogger(__name__)

THUMB_SIDE = 180
UNSORTED = "_unsorted"     # where far-off videos wait when no cluster fits and no new cluster may open


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, label: str) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None: pass
    def advance(self, label: str) -> None: pass
    def finish(self) -> None: pass


@dataclass
class RunResult:
    plan: Plan
    results: list[VideoResult]
    failures: list[Failure]
    n_clusters: int
    names: list[str]
    labels: list[int]
    backend: str
    auto_scores: dict[int, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    mode: str = "cluster"                  # cluster (first run), recluster, or assign (into existing clusters)
    new: list[dict] = field(default_factory=list)      # videos outside the cluster folders: path, cluster, distance
    cached: int = 0                        # videos whose analysis came from the state database
    changed: bool = True                   # False: the library is as the last run left it (no state refresh)
    reused: int = 0                        # frames that skipped the model as near-duplicates


def decode_for(path: Path, settings: Settings) -> SampledFrames:
    return sample_video(path, settings.sampling_fps, settings.sampling_max_frames, settings.sampling_min_frames,
                        seek_seconds=settings.sampling_seek_seconds)


def prefetch(items: list, fn, depth: int = 2) -> Iterator[tuple[object, object, BaseException | None]]:
    """Yield (item, fn(item), None) or (item, None, error) in order, computing fn up to `depth` items ahead in a
    background thread. The queue is bounded, so at most depth + 2 results exist at once whatever the input size.
    Decoding (OpenCV/FFmpeg) and inference (LiteRT) release the GIL, so the two overlap."""
    results: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                results.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        for item in items:
            if stop.is_set():
                return
            try:
                value = (item, fn(item), None)
            except BaseException as exc:      # handed to the consumer, which decides
                value = (item, None, exc)
            if not put(value):
                return
        put(done)

    worker = threading.Thread(target=work, name="organize-decode", daemon=True)
    worker.start()
    try:
        while True:
            value = results.get()
            if value is done:
                return
            yield value
    finally:
        stop.set()
        worker.join(timeout=30)


def analyze_video(path: Path, settings: Settings, backend: FeatureBackend, video: VideoFile | None = None,
                  sampled: SampledFrames | None = None) -> tuple[VideoResult, list[np.ndarray]]:
    """Sample (unless `sampled` is given), embed and pick keyframes of one video; returns the result and the
    sampled frames."""
    if sampled is None:
        sampled = decode_for(path, settings)
    embedding = embed_frames(backend, sampled.frames, settings.features_batch_size, settings.features_reuse_below)
    features, scores = embedding.features, embedding.scores
    selector = KeyframeSelector.from_settings(settings).fit(features, sampled.frames, sampled.times)
    chosen = selector.keyframe_indices_
    keyframes = Keyframes(
        indices=chosen, times=[sampled.times[i] for i in chosen],
        frame_numbers=[sampled.indices[i] for i in chosen],
        sharpness=[float(selector.quality_.sharpness[i]) for i in chosen],
        vector=selector.vector_, dropped=selector.dropped_)
    if video is None:
        st = os.stat(path)
        video = VideoFile(Path(path), os.path.basename(path), st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)
    result = VideoResult(
        video=video, duration=sampled.duration, n_frames=len(sampled.frames), keyframes=keyframes,
        thumbnails=[scale_to_work(sampled.frames[i], THUMB_SIDE // 2) for i in chosen],
        class_scores=None if scores is None else scores[chosen].mean(0), frame_features=features,
        reused=embedding.reused)
    return result, sampled.frames


def _keyframes_dict(kf: Keyframes) -> dict:
    return {"indices": [int(i) for i in kf.indices], "times": [float(t) for t in kf.times],
            "frame_numbers": [int(n) for n in kf.frame_numbers], "sharpness": [float(x) for x in kf.sharpness],
            "dropped": {k: int(v) for k, v in kf.dropped.items()}}


def _encode_thumbnails(thumbs: list[np.ndarray]) -> str:
    out = []
    for rgb in thumbs:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            out.append(base64.b64encode(data.tobytes()).decode("ascii"))
    return json.dumps(out)


def _decode_thumbnails(text: str | None) -> list[np.ndarray]:
    thumbs = []
    for item in json.loads(text) if text else []:
        bgr = cv2.imdecode(np.frombuffer(base64.b64decode(item), np.uint8), cv2.IMREAD_COLOR)
        if bgr is not None:
            thumbs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return thumbs


def _from_cache(video: VideoFile, c: CachedVideo) -> VideoResult:
    k = c.keyframes
    keyframes = Keyframes(indices=k["indices"], times=k["times"], frame_numbers=k["frame_numbers"],
                          sharpness=k["sharpness"], vector=c.vector, dropped=k.get("dropped", {}))
    return VideoResult(video, c.duration, c.n_frames, keyframes, _decode_thumbnails(c.thumbnails_json),
                       c.class_scores)


def identify(videos: list[VideoFile], state: LibraryState, failures: list[Failure],
             index: dict | None = None) -> list[tuple[VideoFile, str]]:
    """Each video with its content fingerprint; a file whose (dev, ino, size, mtime) is known is not even read."""
    index = state.stat_index() if index is None else index
    out, rows = [], []
    for v in videos:
        hit = index.get((v.dev, v.ino))
        if hit and hit[0] == v.size and hit[1] == v.mtime_ns:
            out.append((v, hit[2]))
            continue
        try:
            fp = fingerprint(v.path, v.size, probe_duration(v.path) if v.size else None)
        except OSError as exc:
            failures.append(Failure(v.rel, f"cannot be read ({exc.strerror}); check its permissions"))
            continue
        rows.append((v.dev, v.ino, v.size, v.mtime_ns, os.fsencode(v.path), fp))
        out.append((v, fp))
    state.remember_files(rows)
    return out


def top_folder(path: Path, dest: Path) -> str | None:
    """The folder directly under dest that holds path (at any depth), or None. Plain string work: this runs for
    every file of the library on every run."""
    p, d = os.fspath(path), os.fspath(dest).rstrip(os.sep) + os.sep
    if not p.startswith(d):
        return None
    first, sep, _ = p[len(d):].partition(os.sep)
    return first if sep else None


def cluster_folder(path: Path, dest: Path, known: set[str]) -> str | None:
    """The known cluster folder (directly under dest) that holds path, at any depth; None if it is elsewhere."""
    top = top_folder(path, dest)
    return top if top in known else None


def _renamed_folders(clusters: list[ClusterRow], dest: Path, located: dict[str, str | None],
                     last: dict[str, str]) -> dict[str, str]:
    """Cluster folders the user renamed: old name -> new name, when most of its videos now sit in one new folder."""
    renames = {}
    known = {c.name for c in clusters}
    for c in clusters:
        if (dest / c.name).is_dir():
            continue
        where = [located.get(fp) for fp, name in last.items() if name == c.name and fp in located]
        where = [w for w in where if w and w not in known and w != UNSORTED]
        if where:
            top = max(set(where), key=where.count)
            if where.count(top) * 2 > len(where) and top not in renames.values():
                renames[c.name] = top
    return renames


def organize(root: Path, settings: Settings, dest: Path | None = None, progress: Progress | None = None,
             now: float | None = None, state: LibraryState | None = None, recluster: bool = False,
             thumbnails: bool = True) -> RunResult:
    """Analyse the videos under root (through the state's cache) and plan where each goes. Changes no video.

    Without stored clusters (a first run) or with recluster=True the whole library is clustered; otherwise
    videos outside the cluster folders join the nearest existing cluster (or _unsorted, or a new cluster).
    thumbnails=False skips loading cached keyframe thumbnails (only the report and keyframe export need them).
    """
    started = time.monotonic()
    root = Path(os.path.abspath(root))
    dest = Path(os.path.abspath(dest)) if dest else root
    if not root.is_dir():
        raise OrganizerError(f"{root} is not a folder; pass the folder that holds your videos.")
    state = state or LibraryState.memory()
    found = scan(root, settings.safety_settle_seconds, now=now)
    progress = progress or NoProgress()
    failures = list(found.skipped)
    key = analysis_key(settings)
    index = state.stat_index()
    ids = identify(found.videos, state, failures, index)
    cache = state.cached([fp for _, fp in ids], key, with_thumbnails=thumbnails)
    todo = [(v, fp) for v, fp in ids if fp not in cache]
    backend = None
    frames = 0
    fresh: dict[str, VideoResult] = {}
    progress.start(len(todo))
    decoded = prefetch(todo, lambda job: decode_for(job[0].path, settings))
    try:
        for (video, fp), sampled_frames, decode_error in decoded:
            try:
                if decode_error is not None:
                    raise decode_error
                backend = backend or load_backend(settings)
                result, sampled = analyze_video(video.path, settings, backend, video, sampled_frames)
                features = result.frame_features
                state.store_analysis(fp, key, result.duration, _keyframes_dict(result.keyframes),
                                     result.keyframes.vector, features, result.class_scores,
                                     _encode_thumbnails(result.thumbnails))
                result.frame_features = None      # stored; do not hold every video's features in memory
                fresh[video.rel] = result
                frames += len(sampled)
            except VideoUnreadable as exc:
                failures.append(Failure(video.rel, str(exc)))
                state.store_failure(fp, key, str(exc))
            except OrganizerError:
                raise          # model, configuration or state problems concern every video: stop with the message
            except Exception as exc:   # one bad video never aborts the batch
                log.debug("unexpected failure on %s", video.path, exc_info=True)
                failures.append(Failure(video.rel, f"could not be processed ({type(exc).__name__}: {exc})"))
            progress.advance(video.rel)
    finally:
        decoded.close()
        progress.finish()
    if backend is not None:
        state.set_meta(f"labels:{key}", json.dumps(backend.labels))
    results: list[VideoResult] = []
    fp_of: dict[str, str] = {}
    for video, fp in ids:
        c = cache.get(fp)
        if c is not None and c.error:
            failures.append(Failure(video.rel, c.error + " (remembered from an earlier run)"))
        elif c is not None:
            results.append(_from_cache(video, c))
        elif video.rel in fresh:
            results.append(fresh[video.rel])
        else:
            continue
        fp_of[video.rel] = fp
    if found.videos and not results:
        raise NothingProcessed(f"None of the {len(found.videos)} video(s) under {root} could be processed; "
                               "see the reasons listed for each.")
    class_names = backend.labels if backend is not None else json.loads(state.get_meta(f"labels:{key}") or "null")

    clusters = state.clusters()
    top_of = {r.video.rel: top_folder(r.video.path, dest) for r in results}
    located = {fp_of[rel]: top for rel, top in top_of.items()}      # by content, to follow renamed folders
    last = state.last_clusters()
    renames = _renamed_folders(clusters, dest, located, last)
    warnings: list[str] = []
    for old, new in renames.items():
        warnings.append(f"The cluster folder {old} was renamed to {new} by hand; keeping the new name.")
        clusters = [ClusterRow(new, c.centroid, c.size) if c.name == old else c for c in clusters]
    known = {c.name for c in clusters}
    folder_of = {rel: f if f in known or f == UNSORTED else None for rel, f in top_of.items()}
    # Anything since the last run that changes cluster membership: moved, added or removed files, renames.
    changed = bool(renames) or set(index) != {(v.dev, v.ino) for v, _ in ids} or any(
        folder_of[r.video.rel] != last.get(fp_of[r.video.rel]) for r in results)
    usable = [c for c in clusters if c.centroid is not None]
    if recluster and not dest.is_relative_to(root):
        raise OrganizerError("--recluster needs the cluster folders inside PATH (it may move files between them); "
                             "run it without --dest, on the folder that holds the cluster folders.")
    if recluster or not usable:
        mode = "recluster" if clusters else "cluster"
        assigned, scores, extra = _cluster_all(results, folder_of, clusters, class_names, settings)
        distances = {}                    # clustered afresh: no distance to an existing centroid
        warnings += extra
    else:
        mode = "assign"
        assigned, distances = _assign_new(results, folder_of, clusters, usable, class_names, settings,
                                          state.library_mean())
        scores = {}
    if settings.naming == "labels" and not class_names and (mode != "assign" or any(
            n not in known and n != UNSORTED for n in assigned.values())):
        warnings.append("The feature model gives no class names (an embedding model or random weights); "
                        "clusters are numbered.")
    stay = {rel for rel, name in assigned.items() if folder_of.get(rel) == name}
    by_rel = {r.video.rel: r for r in results}
    plan = build_plan(root, dest, [(by_rel[rel].video, name) for rel, name in assigned.items()],
                      settings=settings.as_dict(), skipped=failures, downloading=found.downloading, stay=stay,
                      distances=distances, mode=mode)
    names = sorted(set(assigned.values()))
    position = {n: i for i, n in enumerate(names)}
    labels = [position[assigned[r.video.rel]] for r in results]
    new = [{"path": r.video.rel, "cluster": assigned[r.video.rel],
            "distance": None if distances.get(r.video.rel) is None else round(distances[r.video.rel], 4)}
           for r in results if not folder_of[r.video.rel]]
    return RunResult(plan, results, failures, len(names), names, labels,
                     backend.name if backend else ("cache" if results else "none"), scores, warnings, frames,
                     time.monotonic() - started, mode=mode, new=new, cached=len(results) - len(fresh),
                     changed=changed or bool(plan.moves),
                     reused=sum(r.reused for r in fresh.values()))


def _cluster_all(results: list[VideoResult], folder_of: dict[str, str | None], clusters: list[ClusterRow],
                 class_names: list[str] | None, settings: Settings
                 ) -> tuple[dict[str, str], dict[int, float], list[str]]:
    """Cluster every video; clusters that match old folders (Hungarian assignment) keep their names.
    Returns rel -> cluster name, the auto-k silhouette scores, and warnings."""
    warnings = []
    if not results:
        return {}, {}, warnings
    vectors = np.stack([r.keyframes.vector for r in results])
    clusterer = VideoClusterer(settings.n_clusters, settings.seed).fit(vectors)
    if clusterer.warning_:
        warnings.append(clusterer.warning_)
    labels = clusterer.labels_
    old_names = [c.name for c in clusters]
    mapping: dict[int, str] = {}
    if old_names:
        x = prepare(vectors, clusterer.mean_)
        folders = [folder_of.get(r.video.rel) for r in results]
        old_centroids = np.stack([l2n(x[[f == name for f in folders]].mean(0)) if name in folders
                                  else np.zeros(x.shape[1], np.float32) for name in old_names])
        mapping = match_clusters(labels, folders, clusterer.centroids_, old_names, old_centroids)
    first = next_number(old_names)
    numbers, n = [], first
    for c in range(clusterer.n_clusters_):
        numbers.append(0 if c in mapping else n)
        n += c not in mapping
    fresh_names = cluster_names(labels, [r.class_scores for r in results], class_names, settings.naming,
                                numbers=numbers, taken=set(old_names))
    names = [mapping.get(c, fresh_names[c]) for c in range(clusterer.n_clusters_)]
    return {r.video.rel: names[c] for r, c in zip(results, labels)}, clusterer.scores_, warnings


def _assign_new(results: list[VideoResult], folder_of: dict[str, str | None], clusters: list[ClusterRow],
                usable: list[ClusterRow], class_names: list[str] | None, settings: Settings,
                mean: np.ndarray | None) -> tuple[dict[str, str], dict[str, float]]:
    """Videos in cluster folders stay (hand moves are truth); the others join the nearest centroid."""
    assigned = {r.video.rel: folder_of[r.video.rel] for r in results if folder_of[r.video.rel]}
    distances: dict[str, float] = {}
    outside = sorted((r for r in results if not folder_of[r.video.rel]), key=lambda r: r.video.rel)
    if not outside:
        return assigned, distances
    if mean is None:
        mean = library_mean(np.stack([r.keyframes.vector for r in results]))
    names = [c.name for c in usable]
    centroids = np.stack([c.centroid for c in usable])
    all_names = [c.name for c in clusters]
    limit = settings.n_clusters
    prepared = prepare(np.stack([r.keyframes.vector for r in outside]), mean)
    for r, x in zip(outside, prepared):
        d = distances_to(x, centroids)[0]
        j = int(np.argmin(d))
        if d[j] <= settings.placement_max_distance:
            assigned[r.video.rel] = names[j]
        elif limit is not None and len(all_names) < limit:
            name = cluster_names(np.zeros(1, int), [r.class_scores], class_names, settings.naming,
                                 numbers=[next_number(all_names)], taken=set(all_names) | {UNSORTED})[0]
            all_names.append(name)
            names.append(name)
            centroids = np.vstack([centroids, x])
            assigned[r.video.rel] = name
        else:
            assigned[r.video.rel] = UNSORTED
        distances[r.video.rel] = float(d[j])
    return assigned, distances


def refresh_state(state: LibraryState, root: Path, dest: Path, settings: Settings, names: list[str],
                  reset_mean: bool) -> dict[str, int]:
    """After files moved: forget vanished files, recompute each cluster's members and centroid from where the
    videos now are (so hand moves pull the centroid along). Returns cluster sizes."""
    root, dest = Path(os.path.abspath(root)), Path(os.path.abspath(dest))
    videos = scan(root, 0.0).videos
    if not dest.is_relative_to(root) and dest.is_dir():
        videos += scan(dest, 0.0).videos
    ids = identify(videos, state, [])
    state.forget_files({(v.dev, v.ino) for v, _ in ids})
    known = ({c.name for c in state.clusters()} | set(names)) - {UNSORTED}
    cache = state.cached([fp for _, fp in ids], analysis_key(settings))
    members: dict[str, list[np.ndarray]] = {n: [] for n in known}
    last: dict[str, str] = {}
    for v, fp in ids:
        folder = cluster_folder(v.path, dest, known | {UNSORTED})
        c = cache.get(fp)
        if folder is None or c is None or c.error:
            continue
        last[fp] = folder
        if folder != UNSORTED:
            members[folder].append(c.vector)
    mean = state.library_mean()
    everyone = [v for vs in members.values() for v in vs]
    if everyone and (reset_mean or mean is None or len(mean) != len(everyone[0])):
        mean = library_mean(np.stack(everyone))
        state.set_library_mean(mean)
    rows = []
    for name in sorted(known):
        vecs = members[name]
        if vecs or (dest / name).is_dir():
            centroid = l2n(prepare(np.stack(vecs), mean).mean(0)) if vecs else None
            rows.append(ClusterRow(name, centroid, len(vecs)))
    state.save_clusters(rows)
    state.set_video_clusters(last)
    return {r.name: r.size for r in rows}


def export_keyframes(result: VideoResult, out_dir: Path) -> Path:
    """Write OUT/<stem>/ with one JPEG per keyframe (named by timestamp) and keyframes.json."""
    video = result.video
    folder = Path(out_dir) / video.path.stem
    folder.mkdir(parents=True, exist_ok=True)
    kf = result.keyframes
    full = frames_at(video.path, kf.frame_numbers, side=None)
    by_number = dict(zip(full.indices, full.frames))
    entries = []
    for t, number, sharp, thumb in zip(kf.times, kf.frame_numbers, kf.sharpness, result.thumbnails):
        image = by_number.get(number, thumb)
        name = f"{t:08.3f}s.jpg"
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise OrganizerError(f"Could not encode a keyframe of {video.path.name} as JPEG.")
        (folder / name).write_bytes(data.tobytes())
        entries.append({"time": round(t, 3), "frame": int(number), "file": name, "sharpness": round(sharp, 2)})
    meta = {"video": video.path.name, "duration": round(result.duration, 3), "keyframes": entries}
    (folder / "keyframes.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder
