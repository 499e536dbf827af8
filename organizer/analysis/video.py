"""One video's analysis: sample frames, embed them, pick keyframes, build the video vector.

`analyse_video` is the worker function. It knows nothing of processes, pools or clusters: the engine runs it in a
worker process, a Ray actor runs the very same function, and tests call it directly. Everything besides the model
that decides its result is in `AnalysisParams`, whose key (with the model's feature space) keys the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from organizer.analysis.decode import WORK_SIDE, frames_at, sample_video
from organizer.errors import VideoUnreadable
from organizer.features import Embedding, FeatureBackend, FeatureSpec, embed_frames, near_duplicate_sources, tiny_grey
from organizer.analysis.images import thumbnail_jpeg
from organizer.analysis.keyframes import KeyframeSelector
from organizer.analysis.shots import LABELS, detect, missing_samples
from organizer.analysis.timeline import make_timeline

LOOK_SIDE = 16          # each keyframe's look: a 16x16 grey thumbnail, kept for library-level comparisons
from organizer.types import Analysis, Keyframes, SampledFrames


@dataclass(frozen=True)
class AnalysisParams:
    """The settings that decide an analysis (sampling, pre-filter, keyframe rules) and how it is run."""

    sample_fps: float = 1.0
    max_frames: int = 64
    min_frames: int = 3
    max_pixels: int = 40_000_000
    reuse_below: float = 2.0
    blur_ratio: float = 0.35
    dark_max: float = 18.0
    bright_min: float = 245.0
    min_color_bins: int = 10
    transition_residual: float = 0.35
    min_silhouette: float = 0.12
    max_keyframes: int = 24
    redundant_cosine: float = 0.92
    redundant_hist: float = 0.90
    seed: int = 0
    cascade: bool = True
    # How, not what: these do not change the result and stay out of the cache key.
    seek_seconds: float = 5.0
    batch_size: int = 32
    keep_frame_features: bool = False
    # Which frames the decoder skips moves a sample by a frame or two within a group of B-frames; an analysis made
    # either way is as good, so changing it does not throw every cached analysis away.
    all_frames: bool = False

    @classmethod
    def from_settings(cls, s) -> "AnalysisParams":
        return cls(
            s.sampling_fps, s.sampling_max_frames, s.sampling_min_frames, s.sampling_max_pixels, s.features_reuse_below,
            s.keyframes_blur_ratio, s.keyframes_dark_max, s.keyframes_bright_min, s.keyframes_min_color_bins,
            s.keyframes_transition_residual, s.keyframes_min_silhouette, s.keyframes_max_keyframes,
            s.keyframes_redundant_cosine, s.keyframes_redundant_hist, s.seed,
            s.features_cascade, s.sampling_seek_seconds, s.features_batch_size, all_frames=s.sampling_all_frames)

    def key(self, spec: FeatureSpec) -> str:
        """The analysis cache key: the feature space plus every setting that changes the result."""
        decisive = {k: v for k, v in asdict(self).items()
                    if k not in ("seek_seconds", "batch_size", "keep_frame_features", "all_frames")}
        text = json.dumps({"space": spec.space, **decisive}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def selector(self) -> KeyframeSelector:
        return KeyframeSelector(self.blur_ratio, self.dark_max, self.bright_min, self.min_color_bins,
                                self.transition_residual, self.min_silhouette, self.max_keyframes,
                                self.redundant_cosine, self.redundant_hist, random_state=self.seed)


def sample(path: str, params: AnalysisParams) -> SampledFrames:
    """Frames spread evenly over the video, plus one inside each short shot the even spread stepped over (the
    decoder's cheap signal shows where the edit is; those frames are decoded in a second, seeking pass)."""
    sampled = sample_video(path, params.sample_fps, params.max_frames, params.min_frames,
                           seek_seconds=params.seek_seconds, max_pixels=params.max_pixels,
                           all_frames=params.all_frames)
    edit = detect(sampled.signal)
    sampled = replace(sampled, signal=None, edit=edit, timeline=make_timeline(sampled.signal, sampled.duration))
    extra = missing_samples(edit, list(sampled.indices), params.max_frames - len(sampled.frames), fps=sampled.fps)
    if not extra:
        return sampled
    try:
        more = frames_at(path, extra, side=WORK_SIDE)
    except VideoUnreadable:
        return sampled
    merged = sorted(set(zip(sampled.indices, sampled.times, range(len(sampled.frames)))) |
                    {(n, t, -1 - i) for i, (n, t) in enumerate(zip(more.indices, more.times))})
    seen, order = set(), []
    for n, t, i in merged:
        if n not in seen:
            seen.add(n)
            order.append((n, t, sampled.frames[i] if i >= 0 else more.frames[-1 - i]))
    return replace(sampled, frames=tuple(f for _, _, f in order), times=tuple(t for _, t, _ in order),
                   indices=tuple(n for n, _, _ in order))


def analyse_video(path: str, params: AnalysisParams, backend: FeatureBackend,
                  sampled: SampledFrames | None = None) -> Analysis:
    """Analyse one video; raises VideoUnreadable (with a reason) when it cannot be decoded."""
    sampled = sampled if sampled is not None else sample(path, params)
    return analyse_frames(sampled, params, backend)


def _near_duplicates_too(frames, sources: list[int], keep: set[int], threshold: float) -> list[int]:
    """The cascade's sources, with the near-duplicate pre-filter applied to the frames it still sends (those of
    shots whose picture changes): such a frame reuses an earlier sent frame it is a near copy of. Frames in `keep`
    (the keyframe candidates) always get their own features."""
    own = [i for i, src in enumerate(sources) if src == i]
    near = near_duplicate_sources([frames[i] for i in own], threshold)
    out = list(sources)
    for k, j in enumerate(near):
        if j != k and own[k] not in keep:
            out[own[k]] = own[j]
    return out


def _second_pass(embedding: Embedding, more: list[int], frames, backend: FeatureBackend, batch_size: int) -> Embedding:
    """The cascade's features with `more` frames given their own (KeyframeSelector.wanted): a second, small batch."""
    if not more:
        return embedding
    extra = embed_frames(backend, [frames[i] for i in more], batch_size)
    features = embedding.features.copy()
    features[more] = extra.features
    scores = embedding.scores
    if scores is not None and extra.scores is not None:
        scores = scores.copy()
        scores[more] = extra.scores
    return Embedding(features, scores, embedding.reused - len(more))


def analyse_frames(sampled: SampledFrames, params: AnalysisParams, backend: FeatureBackend) -> Analysis:
    """The analysis of already sampled frames: features, keyframes, vector, thumbnails. With the cascade, the
    model sees one representative frame per shot; the shot's other frames reuse its features."""
    edit = sampled.edit if sampled.edit is not None else detect(sampled.signal)
    marks = [edit.at(n) if edit is not None else (0, -1) for n in sampled.indices]
    excluded = [LABELS[label] if label else "" for label, _ in marks] if edit is not None else None
    shots = [shot for _, shot in marks] if edit is not None else None
    pieces = [edit.piece(n) for n in sampled.indices] if edit is not None else None
    near = edit.to_transition(sampled.indices, sampled.fps) if edit is not None else None
    selector = params.selector().prepare(sampled.frames, excluded, shots, sampled.times, pieces, near)
    sources = selector.sources() if params.cascade else None
    if sources is not None and params.reuse_below > 0:
        sources = _near_duplicates_too(sampled.frames, sources, set(selector.reps_), params.reuse_below)
    embedding = embed_frames(backend, sampled.frames, params.batch_size, params.reuse_below, sources=sources)
    if sources is not None:
        embedding = _second_pass(embedding, [i for i in selector.wanted(embedding.features) if sources[i] != i],
                                 sampled.frames, backend, params.batch_size)
    selector.fit(embedding.features, sampled.frames, sampled.times, excluded, shots)
    chosen = selector.keyframe_indices_
    keyframes = Keyframes(
        indices=tuple(chosen), times=tuple(sampled.times[i] for i in chosen),
        frame_numbers=tuple(sampled.indices[i] for i in chosen),
        sharpness=tuple(float(selector.quality_.sharpness[i]) for i in chosen),
        dropped=tuple(sorted(selector.dropped_.items())))
    scores = embedding.scores
    timeline, step = sampled.timeline or make_timeline(sampled.signal, sampled.duration)
    return Analysis(
        duration=sampled.duration, n_frames=len(sampled.frames), keyframes=keyframes, vector=selector.vector_,
        class_scores=None if scores is None else scores[chosen].mean(0),
        thumbnails=tuple(thumbnail_jpeg(sampled.frames[i]) for i in chosen),
        frame_features=embedding.features.astype(np.float16) if params.keep_frame_features else None,
        reused=embedding.reused, cnn_frames=len(sampled.frames) - embedding.reused,
        keyframe_features=embedding.features[list(chosen)].astype(np.float16),
        keyframe_weights=tuple(selector.weights_), width=int(sampled.width), height=int(sampled.height),
        keyframe_looks=np.array([tiny_grey(sampled.frames[i], LOOK_SIDE).ravel() for i in chosen], np.uint8)
        if chosen else None, timeline=timeline, timeline_step=step)
