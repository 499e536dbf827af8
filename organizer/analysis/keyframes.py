"""Keyframes inside one video: quality gates, adaptive clustering, one sharp frame per picture, no repeats.

Feature distances differ by orders of magnitude between models (random-weight InceptionV3 vs MobileNet), so
the number of pictures is chosen with scale-free silhouette scores on features, and "the same picture" is decided
with model-independent pixel checks (analysis/pixels.py: a small thumbnail and an 8x8x8 colour histogram). Where
pixels say "alike" and features say "apart" (two people in one room), the runs of features along the two shots
decide (analysis/runs.py): compared with how far a shot's own frames are from each other, not with a fixed number.
"""

from __future__ import annotations

import math

import numpy as np

from organizer.analysis import parts, runs
from organizer.analysis.pixels import (SAME_PICTURE_MAD, SIMILAR_CONTENT_MAD, FrameQuality, hist_corr, measure,
                                       transition_frames)
from organizer.analysis.shots import LONG_SHOT
from organizer.vectors import kmeans, l2n, silhouette

# A frame this close (seconds) to a transition may still be a blend of its two pictures: the blend test finds most
# dissolves to within 0.03 s of their ends, but on the tune sets (make_edits_b.py seeds 7, 5, 61: 290 transitions)
# six leave more than 0.3 s undetected at an end, at most 1.0 s (99th percentile 0.74 s), and a keyframe was taken in
# that tail twice. A blend of two pictures has the edges of both, so it reads sharper than either: it is no
# reference for the blur gate, and in a unit of three frames or more it is not the representative.
EDGE = 0.75
BLANK_CONTRAST = 16.0     # luma standard deviation (0-255) under which a frame with few colours is near-solid


class KeyframeSelector:
    """Pick one good frame per distinct picture. Shaped like a scikit-learn estimator: fit() returns self."""

    def __init__(self, blur_ratio=0.35, dark_max=18.0, bright_min=245.0, min_color_bins=10,
                 transition_residual=0.35, min_silhouette=0.12, max_keyframes=24, redundant_cosine=0.92,
                 redundant_hist=0.90, shot_link=0.35, random_state=0):
        self.blur_ratio = blur_ratio
        self.dark_max = dark_max
        self.bright_min = bright_min
        self.min_color_bins = min_color_bins
        self.transition_residual = transition_residual
        self.min_silhouette = min_silhouette
        self.max_keyframes = max_keyframes
        self.redundant_cosine = redundant_cosine
        self.redundant_hist = redundant_hist
        self.shot_link = shot_link
        self.random_state = random_state

    # -- gates ---------------------------------------------------------------------------------------------
    def _gates(self, q: FrameQuality, excluded: list[str] | None,
               shots: list[int] | None = None) -> tuple[np.ndarray, dict[str, int]]:
        n = len(q.sharpness)
        dark = q.luminance <= self.dark_max
        bright = q.luminance >= self.bright_min
        # Near-solid: few colours and little contrast (a black-and-white film has few colours, but contrast).
        blank = (q.color_bins <= self.min_color_bins) & (q.contrast < BLANK_CONTRAST)
        edit = {}
        if excluded is None:
            edit["transition"] = transition_frames(q.thumbs, self.transition_residual)
        else:
            for reason in sorted(set(excluded) - {""}):
                edit[reason] = np.array([x == reason for x in excluded])
        keep = np.ones(n, dtype=bool)
        dropped: dict[str, int] = {}
        for name, mask in (("dark", dark), ("bright", bright), ("blank", blank), *edit.items()):
            hit = keep & mask
            if hit.any():
                dropped[name] = dropped.get(name, 0) + int(hit.sum())
            keep &= ~mask
        # Blur is relative to the sharpest usable frame of similar content: a plain scene is not a blurred one,
        # and a blend of two pictures (sharper than either) is no reference. With shots, only within the shot.
        similar = (q.mad <= SIMILAR_CONTENT_MAD) & keep[None, :]
        if shots is not None:
            shot = np.asarray(shots)
            similar &= shot[:, None] == shot[None, :]
        if self.near_ is not None:           # nor is a frame just outside a transition (a dissolve's tail)
            similar &= (self.near_ >= EDGE)[None, :]
        reference = np.where(similar, q.sharpness[None, :], 0).max(1)
        blurred = keep & (q.sharpness < self.blur_ratio * reference)
        if blurred.any():
            dropped["blurred"] = int(blurred.sum())
        keep &= ~blurred
        if not keep.any():   # every frame failed: keep the best rather than none
            score = q.sharpness * (1 + q.color_bins) * np.where(dark | bright, 0.01, 1)
            keep[int(np.argmax(score))] = True
            dropped["kept_best_of_bad"] = 1
        return keep, dropped

    def _same_picture(self, q: FrameQuality, i: int, j: int, feats: np.ndarray) -> bool:
        if hist_corr(q.hists[i], q.hists[j]) < self.redundant_hist or self._apart(i, j):
            return False
        units = self.unit_of_
        if i in units and j in units and not self._runs_agree(units[i], units[j], feats):
            return False            # look-alike pictures that the runs of features keep apart (runs.py)
        return q.mad[i, j] <= SAME_PICTURE_MAD or float(feats[i] @ feats[j]) >= self.redundant_cosine

    # -- clustering ----------------------------------------------------------------------------------------
    def _choose_labels(self, feats: np.ndarray, q: FrameQuality, idx: np.ndarray,
                       pixels: bool = True) -> tuple[np.ndarray, float]:
        """Frame-level pictures: KMeans for k = 2..2*sqrt(n) on features, the best silhouette (under min_silhouette:
        one picture). pixels=True first takes frames that all match their medoid pixel-wise for one picture; a long
        fixed shot (_split_long) skips that, as its pictures share the setting and differ in what stands in it."""
        x = feats[idx]
        n = len(x)
        if n < 3:
            if n == 2 and not self._same_picture(q, idx[0], idx[1], feats):
                return np.array([0, 1]), 1.0
            return np.zeros(n, dtype=int), 0.0
        # One picture when every frame matches the medoid pixel-wise.
        mad = q.mad[np.ix_(idx, idx)]
        mads = mad[int(np.argmin(mad.sum(1)))]
        if pixels and mads.max() <= SAME_PICTURE_MAD:
            return np.zeros(n, dtype=int), 0.0
        # Frames that reused a neighbour's features (the pre-filter) are exact duplicates: k beyond the number of
        # distinct rows cannot form clusters.
        distinct = len(np.unique(x, axis=0))
        if distinct < 2:
            return np.zeros(n, dtype=int), 0.0
        k_max = min(n - 1, distinct, self.max_keyframes, max(2, 2 * math.isqrt(n)))
        best_labels, best_score = np.zeros(n, dtype=int), -1.0
        for k in range(2, k_max + 1):
            labels = kmeans(x, k, n_init=3, seed=self.random_state)
            if len(set(labels.tolist())) < 2:
                continue
            score = silhouette(x, labels)
            if score > best_score + 1e-6:
                best_labels, best_score = labels, score
        if best_score < self.min_silhouette:
            return np.zeros(n, dtype=int), best_score
        return best_labels, best_score

    # -- shots -------------------------------------------------------------------------------------------
    def prepare(self, frames: list[np.ndarray], excluded: list[str] | None = None,
                shots: list[int] | None = None, times: list[float] | None = None,
                pieces: list[int] | None = None, near_transition=None) -> "KeyframeSelector":
        """Everything that needs no features: quality, gates, and (with shots) the units and their representatives.
        After this, `sources()` says which frames the model must see; fit() then needs features only for those.
        near_transition: per frame, the seconds to the nearest frame the edit reads as a transition (see EDGE)."""
        self.quality_ = measure(frames)
        self.near_ = None if near_transition is None else np.asarray(near_transition, np.float64)
        self.keep_, self.dropped_ = self._gates(self.quality_, excluded, shots)
        whole = "kept_best_of_bad" in self.dropped_        # every frame failed: its best stands for the video
        if shots is not None and times is not None and excluded is not None and not whole:
            q = self.quality_
            usable = (q.luminance > self.dark_max) & (q.luminance < self.bright_min)
            for i in parts.own_parts(self.keep_, usable, q.sharpness * (1 + q.color_bins), excluded, shots, times,
                                     pieces):
                self.keep_[i] = True
                self.dropped_["kept_best_of_part"] = self.dropped_.get("kept_best_of_part", 0) + 1
        self.units_ = self.reps_ = None
        self.split_of_: dict[int, int] = {}      # frame -> the long shot it was split from (_split_long)
        self.part_of_: dict[int, int] = {}       # frame -> which part of it
        if shots is not None:
            by_shot: dict[int, list[int]] = {}
            for i in np.flatnonzero(self.keep_):
                key = int(shots[i]) if shots[i] >= 0 else -1 - int(i)   # a kept frame outside shots stands alone
                by_shot.setdefault(key, []).append(int(i))
            self.units_ = [np.array(v) for _, v in sorted(by_shot.items(), key=lambda kv: kv[1][0])]
            self.reps_ = [self._representative(u) for u in self.units_]
        self._prepared_n = len(frames)
        self.times_ = list(times) if times is not None else None
        return self

    def _representative(self, unit: np.ndarray) -> int:
        """The sharpest of the unit's frames closest (in pixels) to the unit's mean picture: no features needed."""
        q = self.quality_
        dist = np.abs(q.thumbs[unit] - q.thumbs[unit].mean(0)).mean(1)
        if self.near_ is not None and len(unit) >= 3:
            inner = self.near_[unit] >= EDGE
            if inner.any():
                return self._sharpest_near(unit[inner], dist[inner])
        return self._sharpest_near(unit, dist)

    def _sharpest_near(self, members: np.ndarray, dist: np.ndarray) -> int:
        """The sharpest of the members in the nearer half by `dist` (not simply the nearest one)."""
        near = members[dist <= np.quantile(dist, 0.5) + 1e-9]
        return int(near[np.argmax(self.quality_.sharpness[near])])

    def _alike(self, a: int, b: int) -> bool:
        q = self.quality_
        return q.mad[a, b] <= SIMILAR_CONTENT_MAD and hist_corr(q.hists[a], q.hists[b]) >= self.redundant_hist

    def _segments(self, unit: np.ndarray, rep: int) -> list[tuple[np.ndarray, int]]:
        """A unit cut, in time, into runs of frames that look alike (each starts a new run when it no longer looks
        like the run's first frame), each with the frame the model sees for it: the unit's representative for the
        run that holds it, else the sharpest frame nearest the run's mean picture. One run: a uniform shot."""
        runs, start = [], 0
        for k in range(1, len(unit) + 1):
            if k == len(unit) or not self._alike(int(unit[start]), int(unit[k])):
                runs.append(unit[start:k])
                start = k
        return [(run, rep if rep in run else self._representative(run)) for run in runs]

    def sources(self) -> list[int] | None:
        """Per frame, the frame whose features it uses (the cascade): the representative of its run of look-alike
        frames inside its shot (most shots are one run); for frames no keyframe can come from, the nearest
        representative. None without shots."""
        if not self.reps_:
            return None
        out = [-1] * self._prepared_n
        for unit, rep in zip(self.units_, self.reps_):
            runs = self._segments(unit, rep)
            for run, source in runs:
                for i in run:
                    out[i] = source if len(runs) == 1 and not self._long(unit) else int(i)
        reps = np.array(sorted(self.reps_))
        for i in range(self._prepared_n):
            if out[i] < 0:
                out[i] = int(reps[np.argmin(np.abs(reps - i))])
        return out

    def _runs_agree(self, a: int, b: int, feats: np.ndarray) -> bool:
        """Units a and b may show one picture by their features (analysis/runs.py): their representatives are
        close, or their runs of features are as close as a shot's frames are to each other."""
        if float(feats[self.reps_[a]] @ feats[self.reps_[b]]) >= self.redundant_cosine:
            return True
        return runs.agree(feats[self.units_[a]], feats[self.units_[b]], self.typical_)

    def wanted(self, features: np.ndarray) -> list[int]:
        """After a first pass of the cascade: the frames whose own features would decide a question its shared
        features leave open. Two units that their features keep apart while their representatives agree in pixels
        (look-alike people in one room, or two visits of one room): all their frames, for runs.agree. Not those of
        a long shot: _split_long reads its pictures from the features it has."""
        if not self.reps_:
            return []
        feats, reps, want = l2n(features), self.reps_, set()
        labels = self._linkage(feats)
        for a in range(len(reps)):
            for b in range(a + 1, len(reps)):
                if labels[a] != labels[b] and self._alike(reps[a], reps[b]) \
                        and float(feats[reps[a]] @ feats[reps[b]]) < self.redundant_cosine:
                    want.update(int(i) for u in (a, b) if not self._long(self.units_[u]) for i in self.units_[u])
        return sorted(want)

    def _linkage(self, feats: np.ndarray) -> np.ndarray:
        """Per unit, its group by features alone: average linkage on the units' mean features, cut at shot_link times
        the median distance between units (with two units or fewer, each its own)."""
        from scipy.cluster.hierarchy import fcluster, linkage

        n = len(self.units_)
        descriptors = np.stack([l2n(feats[u].mean(0)) for u in self.units_])
        if n <= 2:
            return np.arange(n)
        d = np.clip(1 - descriptors @ descriptors.T, 0, None)[np.triu_indices(n, 1)]
        scale = float(np.median(d))
        if scale <= 0:
            return np.zeros(n, dtype=int)
        return np.array(fcluster(linkage(d, "average"), t=self.shot_link * scale, criterion="distance"))

    def _group_units(self, feats: np.ndarray) -> list[list[int]]:
        """Shots that show the same scene, as lists of unit numbers: average linkage on the shots' mean features,
        cut at a fraction of the median distance between shots (scale-free across models), joined where the
        representatives' pixels agree, unless the runs of features along the two shots keep them apart."""
        reps, n = self.reps_, len(self.units_)
        labels = self._linkage(feats)
        for a in range(n):
            for b in range(a + 1, n):
                if self._alike(reps[a], reps[b]) and not self._bridges(labels, labels[a], labels[b]) \
                        and self._runs_agree(a, b, feats):
                    labels[labels == labels[b]] = labels[a]
        groups: dict[int, list[int]] = {}
        for u, label in enumerate(labels):
            groups.setdefault(int(label), []).append(u)
        return list(groups.values())

    def _long(self, unit: np.ndarray) -> bool:
        """A shot of LONG_SHOT seconds or more: the model sees every frame of it, for _split_long (on the shared
        clips this costs no frame: such shots changed their picture, so the cascade sent every frame already)."""
        times = self.times_
        return times is not None and len(unit) >= 4 and times[unit[-1]] - times[unit[0]] >= LONG_SHOT

    def _split_mixed(self, feats: np.ndarray) -> None:
        """A unit whose frames all look alike in pixels, but whose own features (wanted()) form pictures that
        runs.agree keeps apart: a cut, wipe or dissolve between look-alike pictures (two people in one room) that
        the 16x16 signal could not see. Each picture becomes a unit. A unit whose pixels change (a pan) is left
        whole: its features change along it by nature."""
        units, reps = [], []
        for unit, rep in zip(self.units_, self.reps_):
            pieces = [unit]
            if len(runs.distinct(feats[unit])) > 1 and not self._long(unit) and len(self._segments(unit, rep)) == 1:
                pieces = runs.pictures(feats, unit, self.typical_)
            units += pieces
            reps += [rep if rep in p else self._representative(p) for p in pieces]
        self.units_, self.reps_ = units, reps

    def _split_long(self, feats: np.ndarray, times: list[float]) -> None:
        """A shot of LONG_SHOT seconds or more (a fixed camera where people come and go) shows as many pictures as
        its frames form clusters, by the frame-level rule (KMeans, silhouette); a shorter shot is one picture, so a
        pan or a gesture never splits. Only shots whose picture changes have every frame's own features."""
        units, reps = [], []
        for n, (unit, rep) in enumerate(zip(self.units_, self.reps_)):
            if len(unit) >= 4 and times[unit[-1]] - times[unit[0]] >= LONG_SHOT:
                labels, _ = self._choose_labels(feats, self.quality_, unit, pixels=False)
                parts = [unit[labels == k] for k in sorted(set(labels.tolist()),
                                                           key=lambda k: int(np.argmax(labels == k)))]
                if len(parts) > 1:
                    units += parts
                    reps += [self._sharpest_near(p, 1 - feats[p] @ l2n(feats[p].mean(0))) for p in parts]
                    self.split_of_.update({int(i): n for p in parts for i in p})
                    self.part_of_.update({int(i): k for k, p in enumerate(parts) for i in p})
                    continue
            units.append(unit)
            reps.append(rep)
        self.units_, self.reps_ = units, reps

    def _vector(self, feats: np.ndarray, kept: list[int]) -> np.ndarray:
        """The mean of the keyframes' features, where the pictures of one split long shot count as that one shot,
        each by how much of it it fills (a fixed camera on a room stays a room when people pass through it)."""
        entries, longs, share = [], {}, {}
        for i in kept:
            if i in self.split_of_:
                longs.setdefault(self.split_of_[i], []).append(i)
            else:
                entries.append(feats[i])
                share[i] = 1.0
        for members in longs.values():
            fill = [sum(1 for f, p in self.part_of_.items() if p == self.part_of_[i]
                        and self.split_of_[f] == self.split_of_[i]) for i in members]
            entries.append(l2n(np.average(feats[members], axis=0, weights=fill)))
            share.update((i, f / sum(fill)) for i, f in zip(members, fill))
        self.weights_ = [share[i] / len(entries) for i in kept]     # each keyframe's share (grouping/furniture)
        return l2n(np.mean(entries, axis=0))

    def _bridges(self, labels: np.ndarray, ga: int, gb: int) -> bool:
        """Whether joining groups ga and gb would put two parts of one split long shot together: the split found
        different pictures in one setting by their features, and pixels (which see the setting) never undo it."""
        if ga == gb or not self.split_of_:
            return False
        members = [self.reps_[u] for u in np.flatnonzero((labels == ga) | (labels == gb))]
        parts = {(self.split_of_[r], self.part_of_[r]) for r in members if r in self.split_of_}
        return len(parts) > len({split for split, _ in parts})

    def _apart(self, a: int, b: int) -> bool:
        """Frames of two parts of one long shot split by their features: different pictures in one setting, which
        the pixel rules would take for one."""
        return a in self.split_of_ and self.split_of_.get(a) == self.split_of_.get(b)

    def _choose_by_shots(self, feats: np.ndarray) -> list[int]:
        chosen = []
        for group in self._group_units(feats):
            members = np.array([self.reps_[u] for u in group])
            centre = l2n(np.concatenate([feats[self.units_[u]] for u in group]).mean(0))   # by frames, not shots
            chosen.append(self._sharpest_near(members, 1 - feats[members] @ centre))
        return chosen

    def _choose_by_frames(self, feats: np.ndarray) -> list[int]:
        q, idx = self.quality_, np.flatnonzero(self.keep_)
        labels, _ = self._choose_labels(feats, q, idx)
        chosen = []
        for label in sorted(set(labels)):
            members = idx[labels == label]
            chosen.append(self._sharpest_near(members, 1 - feats[members] @ l2n(feats[members].mean(0))))
        return chosen

    def fit(self, features: np.ndarray, frames: list[np.ndarray], times: list[float] | None = None,
            excluded: list[str] | None = None, shots: list[int] | None = None) -> "KeyframeSelector":
        """excluded: per frame, why the edit rules it out ("" when clear; None without a signal, when the old
        neighbour-blend test stands in); shots: per frame, its shot (-1 when not clear), or None, when frames are
        clustered one by one. Call prepare() first to learn which frames need features (cascade)."""
        n = len(frames)
        times = list(times) if times is not None else list(range(n))
        if getattr(self, "_prepared_n", None) != n:
            self.prepare(frames, excluded, shots)
        q, feats = self.quality_, l2n(features)
        self.unit_of_: dict[int, int] = {}
        if self.units_:
            self.typical_ = runs.typical_spread([feats[u] for u in self.units_])
            self._split_mixed(feats)
            self._split_long(feats, times)
            self.typical_ = runs.typical_spread([feats[u] for u in self.units_])
            self.unit_of_ = {r: u for u, r in enumerate(self.reps_)}
        chosen = self._choose_by_shots(feats) if self.units_ else self._choose_by_frames(feats)
        chosen.sort(key=lambda i: times[i])
        kept: list[int] = []
        for i in chosen:   # redundancy elimination in time order
            if any(self._same_picture(q, i, j, feats) for j in kept):
                self.dropped_["redundant"] = self.dropped_.get("redundant", 0) + 1
                continue
            kept.append(i)
        self.keyframe_indices_ = kept[: self.max_keyframes]
        self.n_keyframes_ = len(self.keyframe_indices_)
        self.vector_ = self._vector(feats, self.keyframe_indices_)
        self._prepared_n = None
        return self
