"""Where each video belongs, given the stored clusters, the folders and the video vectors. Pure: no files, no
database, no model; every rule here is tested on plain vectors.

The rules: files inside cluster folders stay (hand moves are truth); a first run, or --recluster, clusters
everything; otherwise each other video joins its nearest centroid when close enough, opens a new cluster when the
cluster count allows, or waits in _unsorted. Centroids are always derived from what each folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from organizer.grouping.calibrate import GROWTH, Threshold, calibrate, given
from organizer.grouping.clustering import VideoClusterer
from organizer.grouping.names import cluster_names, next_number
from organizer.grouping.space import distances, library_mean, match_clusters, prepare
from organizer.grouping import scale
from organizer.grouping.growth import Drift, drift, groups
from organizer.vectors import l2n
from organizer.types import UNSORTED, ClusterRow, ClusterSet


@dataclass(frozen=True)
class Member:
    """One analysed video as placement sees it."""

    rel: str
    fingerprint: str
    vector: np.ndarray
    folder: str | None                    # the top-level folder under dest that holds it (any name), or None
    class_scores: np.ndarray | None = None


@dataclass(frozen=True)
class Rules:
    n_clusters: int | None = None         # None: auto; otherwise a ceiling the library grows into
    max_distance: float | None = None     # None: calibrated from the library (calibrate.py)
    naming: str = "labels"
    seed: int = 0
    min_cluster_size: int = 2             # a group of new videos this large may open a cluster
    reposts: str = "keep"                 # copies of one video: keep, together, or aside (pipeline.with_reposts)


@dataclass(frozen=True)
class Placement:
    assigned: dict[str, str]              # rel -> cluster folder name (or UNSORTED)
    stay: frozenset[str]                  # rels already in their folder (counted, never moved)
    distances: dict[str, float]           # rel -> distance to its centroid, for videos placed by assignment
    mode: str                             # cluster (first run), recluster, or assign
    clusters: ClusterSet                  # the stored clusters after renames (and a change of feature space)
    outside: frozenset[str] = frozenset()  # rels found outside every cluster folder (new to the clusters)
    warnings: tuple[str, ...] = ()
    k_choice: str = ""                    # how the number of clusters was chosen (a clustering run)
    drift: Drift | None = None            # how well the folders fit, against a fresh clustering (later runs)
    advice: tuple[str, ...] = ()          # suggestions, each said once per library (the caller remembers)
    threshold: Threshold | None = None    # the max_distance this placement used, and how it was chosen


def top_folder(path: str, dest: str, sep: str = "/") -> str | None:
    """The folder directly under dest that holds path (at any depth), or None. Plain string work: this runs for
    every file of the library on every run."""
    d = dest.rstrip(sep) + sep
    if not path.startswith(d):
        return None
    first, found, _ = path[len(d):].partition(sep)
    return first if found else None


def renamed_folders(rows: tuple[ClusterRow, ...], present: set[str], located: dict[str, str | None],
                    last: dict[str, str]) -> dict[str, str]:
    """Cluster folders the user renamed: old name -> new name, when most of the videos it held after the last
    run now sit in one new top-level folder. `present` names the folders that exist under dest."""
    renames: dict[str, str] = {}
    known = {c.name for c in rows}
    for c in rows:
        if c.name in present:
            continue
        where = [located.get(fp) for fp, name in last.items() if name == c.name and fp in located]
        where = [w for w in where if w and w not in known and w != UNSORTED]
        if where:
            top = max(sorted(set(where)), key=where.count)
            if where.count(top) * 2 > len(where) and top not in renames.values():
                renames[c.name] = top
    return renames


def centroids_from_folders(members: list[Member], names: list[str], mean: np.ndarray | None
                           ) -> tuple[list[ClusterRow], np.ndarray | None]:
    """Each cluster's centroid from what its folder holds, in the space of `mean` (when None: the mean of every
    member, in a cluster folder or not: the library's common component). Folders with no analysed video keep their
    name without a centroid."""
    held: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for m in members:
        if m.folder in held:
            held[m.folder].append(m.vector)
    if mean is None and members:
        mean = library_mean([m.vector for m in members])
    rows = [ClusterRow(n, l2n(prepare(np.stack(vs), mean).mean(0)) if vs else None, len(vs))
            for n, vs in held.items()]
    return rows, mean


def _adopt(stored: ClusterSet, members: list[Member], space: str, present: set[str], last: dict[str, str]
           ) -> tuple[ClusterSet, list[str]]:
    """The stored clusters, renamed where the user renamed a folder, in this run's feature space."""
    warnings = []
    located = {m.fingerprint: m.folder for m in members}
    renames = renamed_folders(stored.rows, present, located, last)
    rows = tuple(replace(c, name=renames.get(c.name, c.name)) for c in stored.rows)
    for old, new in renames.items():
        warnings.append(f"The cluster folder {old} was renamed to {new} by hand; keeping the new name.")
    clusters = replace(stored, rows=rows)
    dims = {len(c.centroid) for c in rows if c.centroid is not None} | (
        {len(stored.mean)} if stored.mean is not None else set())
    other_space = stored.space is not None and stored.space != space
    if rows and members and (other_space or dims - {members[0].vector.shape[-1]}):
        # Another model made the stored centroids. The clusters are their folders: derive the centroids again,
        # in this model's space, from what each folder holds. Nothing moves between clusters.
        new_rows, mean = centroids_from_folders(members, [c.name for c in rows], None)
        clusters = ClusterSet(tuple(new_rows), mean, space)
        warnings.append("The clusters were made with another feature model; their centres were recomputed with "
                        "this one from what each folder holds. Run with --recluster to regroup the library with "
                        "this model.")
    return clusters, warnings


def place(members: list[Member], stored: ClusterSet, rules: Rules, space: str, class_names: list[str] | None,
          present: set[str] = frozenset(), last: dict[str, str] | None = None, recluster: bool = False
          ) -> Placement:
    """Where every member goes. `present`: folders that exist under dest; `last`: fingerprint -> cluster after the
    last run (to recognise renamed folders)."""
    clusters, warnings = _adopt(stored, members, space, set(present), last or {})
    known = set(clusters.names)
    folder_of = {m.rel: m.folder if m.folder in known or m.folder == UNSORTED else None for m in members}
    if clusters.rows and members and not any(f in known for f in folder_of.values()) and not recluster:
        clusters = ClusterSet(space=space)           # nothing is left in a cluster folder (after a full undo)
        warnings.append("No video is in a cluster folder any more; the library is clustered afresh.")
    usable = [c for c in clusters.rows if c.centroid is not None]
    threshold = choose_threshold(members, clusters, rules, clustering=recluster or not usable)
    rules = replace(rules, max_distance=threshold.value)
    advice: list[str] = []
    choice = ""
    found_drift = None
    if recluster or not usable:
        mode = "recluster" if clusters.rows else "cluster"
        assigned, extra, choice = cluster_all(members, folder_of, clusters.names, class_names, rules,
                                              ceiling=not recluster)
        warnings += extra
    else:
        mode = "assign"
        assigned, _ = assign_new(members, folder_of, clusters, class_names, rules)
        advice += _count_note(len(clusters.rows), rules.n_clusters)
        if any(folder_of[m.rel] is None for m in members):       # new videos: not a no-op night
            found_drift = _drift(members, assigned, known, clusters, rules.seed)
            if found_drift is not None and found_drift.suggested:
                advice.append(found_drift.sentence())
    distances_of = centre_distances(members, assigned, clusters if mode == "assign" else ClusterSet())
    fresh_names = {n for n in assigned.values() if n not in known and n != UNSORTED}
    if rules.naming == "labels" and not class_names and fresh_names:
        warnings.append("The feature model gives no class names (an embedding model or random weights); "
                        "clusters are numbered.")
    stay = frozenset(rel for rel, name in assigned.items() if folder_of.get(rel) == name)
    outside = frozenset(rel for rel, folder in folder_of.items() if not folder)
    return Placement(assigned, stay, distances_of, mode, clusters, outside, tuple(warnings), choice, found_drift,
                     tuple(advice), threshold)


def choose_threshold(members: list[Member], clusters: ClusterSet, rules: Rules, clustering: bool) -> Threshold:
    """The max_distance of this run: as given; else, on a later run, the one stored with the clusters (so a
    library keeps one rule night after night) until the library has grown by GROWTH since it was measured; else
    calibrated from every video of the library now."""
    if rules.max_distance is not None:
        return given(rules.max_distance)
    if not clustering and clusters.max_distance is not None and clusters.max_distance_videos * GROWTH >= len(members):
        return Threshold(clusters.max_distance, "stored", clusters.max_distance_why or
                         f"max_distance {clusters.max_distance:.2f}, calibrated when the clusters were made",
                         clusters.max_distance_videos)
    vectors = [m.vector for m in members]
    return calibrate(vectors, library_mean(vectors) if vectors else None, rules.seed)


def _drift(members: list[Member], assigned: dict[str, str], known: set[str], clusters: ClusterSet, seed: int
           ) -> Drift | None:
    """The folders' fit after this run's placement, against a fresh clustering of the same videos."""
    placed = [m for m in members if assigned.get(m.rel) in known]
    if len(placed) < 4:
        return None
    size = max(scale.SAMPLE, 10 * len(known))        # bounded on a large library, about 10 videos per cluster
    placed = [placed[i] for i in scale.sample(len(placed), size, seed)]
    x = prepare(np.stack([m.vector for m in placed]), clusters.mean)
    return drift(x, [assigned[m.rel] for m in placed], seed)


def _count_note(existing: int, asked: int | None) -> list[str]:
    """A later run never re-clusters by itself: say so when the count asked for is not the count there is."""
    if asked is None or asked == existing:
        return []
    if asked > existing:
        return [f"The library has {existing} clusters; --clusters {asked} is a ceiling, not a target: new clusters "
                f"open (up to {asked}) only as new videos need them."]
    return [f"The library has {existing} clusters, more than --clusters {asked}; a later run never merges "
            "clusters by itself."]


def cluster_all(members: list[Member], folder_of: dict[str, str | None], old_names: list[str],
                class_names: list[str] | None, rules: Rules, ceiling: bool = False
                ) -> tuple[dict[str, str], list[str], str]:
    """Cluster every video; clusters that match old folders (Hungarian assignment) keep their names; videos that
    fit no group (auto) go to _unsorted. With ceiling (a first run), --clusters N on too few videos to give every
    cluster min_cluster_size of them (n < min_cluster_size x N) is a ceiling: the groups are found as auto finds
    them, at most N. Returns rel -> cluster name,
    warnings, and how k was chosen."""
    if not members:
        return {}, [], ""
    vectors = np.stack([m.vector for m in members])
    n, asked = len(members), rules.n_clusters
    auto = dict(max_distance=rules.max_distance, min_size=rules.min_cluster_size)
    per = max(2, rules.min_cluster_size)
    if ceiling and asked is not None and asked > 1 and n < per * asked:
        clusterer = VideoClusterer(None, rules.seed, ceiling=asked, **auto).fit(vectors)
        clusterer.choice_ += (f"; --clusters {asked} is a ceiling the library grows into, as {n} videos are too "
                              f"few for {asked} clusters of at least {per}")
    else:
        clusterer = VideoClusterer(asked, rules.seed, **auto).fit(vectors)
    labels = clusterer.labels_
    grouped = labels >= 0
    mapping: dict[int, str] = {}
    if old_names and grouped.any():
        folders = [folder_of.get(m.rel) for m in members]
        index = {name: j for j, name in enumerate(old_names)}
        held = np.array([index.get(f, -1) for f in folders])
        old_centroids = scale.unit_centroids(vectors, clusterer.mean_, held, len(old_names))
        mapping = match_clusters(labels[grouped], [f for f, g in zip(folders, grouped) if g], clusterer.centroids_,
                                 old_names, old_centroids)
    numbers, number = [], next_number(old_names)
    for c in range(clusterer.n_clusters_):
        numbers.append(0 if c in mapping else number)
        number += c not in mapping
    kept = [m for m, g in zip(members, grouped) if g]
    fresh = cluster_names(labels[grouped], [m.class_scores for m in kept], class_names, rules.naming,
                          numbers=numbers, taken=set(old_names) | {UNSORTED}) if kept else []
    names = [mapping.get(c, fresh[c]) for c in range(clusterer.n_clusters_)]
    return ({m.rel: names[c] if c >= 0 else UNSORTED for m, c in zip(members, labels)}, list(clusterer.warnings_),
            clusterer.choice_)


def assign_new(members: list[Member], folder_of: dict[str, str | None], clusters: ClusterSet,
               class_names: list[str] | None, rules: Rules) -> tuple[dict[str, str], dict[str, float]]:
    """Videos in cluster folders stay (hand moves are truth). The others, new ones and those waiting in _unsorted,
    join their nearest centroid when close enough; among the rest, coherent groups open new clusters (up to
    --clusters N; any number with auto); what still fits nothing waits in _unsorted."""
    assigned = {m.rel: folder_of[m.rel] for m in members if folder_of[m.rel] not in (None, UNSORTED)}
    found: dict[str, float] = {}
    waiting = sorted((m for m in members if m.rel not in assigned), key=lambda m: m.rel)
    if not waiting:
        return assigned, found
    everyone = [m.vector for m in members]
    mean = clusters.mean if clusters.mean is not None else library_mean(everyone)
    usable = [c for c in clusters.rows if c.centroid is not None]
    x = prepare(np.stack([m.vector for m in waiting]), mean)
    d = distances(x, np.stack([c.centroid for c in usable]))
    far = []
    for i, m in enumerate(waiting):
        j = int(np.argmin(d[i]))
        found[m.rel] = float(d[i, j])
        if d[i, j] <= rules.max_distance:
            assigned[m.rel] = usable[j].name
        else:
            far.append(i)
    room = None if rules.n_clusters is None else max(0, rules.n_clusters - len(clusters.rows))
    taken = set(clusters.names) | {UNSORTED}
    # New groups are judged in the library as it is now (the space the stored clusters move to after this run, and
    # the one a clustering of everything at once uses), not in the space of the night the clusters were made.
    found_groups = _new_groups([waiting[i].vector for i in far], library_mean(everyone), rules)[:room] if far else []
    for group in found_groups:
        chosen = [waiting[far[i]] for i in group]
        name = cluster_names(np.zeros(len(chosen), int), [m.class_scores for m in chosen], class_names, rules.naming,
                             numbers=[next_number(sorted(taken - {UNSORTED}))], taken=set(taken))[0]
        taken.add(name)
        for m in chosen:
            assigned[m.rel] = name
    for i in far:
        assigned.setdefault(waiting[i].rel, UNSORTED)
    return assigned, found


def centre_distances(members: list[Member], assigned: dict[str, str], stored: ClusterSet) -> dict[str, float]:
    """The one definition of a video's distance, used by the manifest, --json and the report: the cosine distance
    between the video and the centre of the cluster it is placed in. For a cluster that existed before this run
    (in `stored`), the stored centroid, in the stored library space: what the max_distance rule compared. For a
    cluster made in this run (a first run, a recluster, a group opened from waiting videos), the centre of its
    members, in the library space of this run. A video in _unsorted has no cluster: its distance is to the nearest
    centre (why it waits)."""
    by_cluster: dict[str, list[Member]] = {}
    for m in members:
        by_cluster.setdefault(assigned.get(m.rel) or UNSORTED, []).append(m)
    if not members:
        return {}
    now = library_mean([m.vector for m in members])
    stored_mean = stored.mean if stored.mean is not None else now
    centres = {c.name: (stored_mean, c.centroid) for c in stored.rows if c.centroid is not None}
    for name, group in by_cluster.items():
        if name != UNSORTED and name not in centres:
            centres[name] = (now, l2n(prepare(np.stack([m.vector for m in group]), now).mean(0)))
    out: dict[str, float] = {}
    for name, group in by_cluster.items():
        vectors = np.stack([m.vector for m in group])
        if name != UNSORTED:
            mean, centre = centres[name]
            out.update(zip((m.rel for m in group), distances(prepare(vectors, mean), centre)[:, 0].tolist()))
        elif centres:
            near = np.min([distances(prepare(vectors, mean), centre)[:, 0] for mean, centre in centres.values()], 0)
            out.update(zip((m.rel for m in group), near.tolist()))
    return out


def _new_groups(vectors: list[np.ndarray], mean: np.ndarray, rules: Rules) -> list[list[int]]:
    """Groups among the videos no cluster takes (indices into vectors), as auto finds them."""
    if len(vectors) > scale.LARGE:
        return scale.groups(vectors, mean, rules.max_distance, rules.min_cluster_size, rules.seed)
    return groups(prepare(np.stack(vectors), mean), rules.max_distance, rules.min_cluster_size) if vectors else []


def refreshed(members: list[Member], names: set[str], stored: ClusterSet, space: str, present: set[str],
              threshold: dict | None = None) -> tuple[ClusterSet, dict[str, str]]:
    """The clusters as the folders now hold them (after files moved): the library mean from every analysed video
    (it follows the library as it grows; a mean of the clustered videos alone would be centred on the first
    clusters), each centroid from its folder's videos in that space, so hand moves pull centroids along. Returns
    the clusters and fingerprint -> folder for every placed video. `threshold`: the plan's (Threshold.as_dict());
    a calibrated one is stored with the clusters, a given one leaves the stored one as it was."""
    known = (set(names) | set(stored.names)) - {UNSORTED}
    mean = library_mean([m.vector for m in members]) if members else stored.mean
    rows, _ = centroids_from_folders([m for m in members if m.folder in known], sorted(known), mean)
    rows = [r for r in rows if r.size or r.name in present]
    memberships = {m.fingerprint: m.folder for m in members if m.folder in known or m.folder == UNSORTED}
    value, why, count = ((stored.max_distance, stored.max_distance_why, stored.max_distance_videos)
                         if stored.space == space else (None, "", 0))
    if threshold and threshold.get("chosen") in ("calibrated", "stored"):
        value, why, count = (float(threshold["max_distance"]), str(threshold.get("why", "")),
                             int(threshold.get("videos", 0)))
    return ClusterSet(tuple(rows), mean, space, value, why, count), memberships
