"""Why copies are missed or wrongly joined (issue 25): for generated libraries (bench/make_library.py), every true
pair of copies a run did not join and every pair it joined that is not one video, with what the timeline comparison
said about it. The tool that found round five's cases; read only libraries you may look at (tune, or seen).

    python bench/explain_copies.py LIBRARY [LIBRARY ...] --state DIR [--models ../shared/models] [--model 1]

Each line: the two files, their durations, the best centred cosine of their own keyframes (a pair below
reposts.ALIKE is rarely a candidate; "-" when one of them has no keyframe of its own), and the timeline's best
placement: offset (s), mirrored, zoom, looks (20 % quantile of the picture correlation), motion windows that decided
and agreed, and the picture agreement at the shorter one's own keyframes. --state as in bench_library.py (the
analyses are kept there, so a second look costs only the grouping).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import bench_library as bl  # noqa: E402
from clips import offline_models  # noqa: E402

from organizer.grouping import library_stats as ls  # noqa: E402
from organizer.grouping import reposts as rp  # noqa: E402
from organizer.grouping import timeline as tl  # noqa: E402
from organizer.vectors import l2n  # noqa: E402


def capture() -> dict:
    """Hooks that keep what one run hands the copies step: the videos, every timeline (read while the state is
    open), which file each analysis is, and the plan."""
    seen: dict = {}
    groups, look, score = rp.groups, ls.look, bl.score

    def keep_groups(videos, seed=0, timelines=None, new=None):
        ids = [v for v, d in videos.items() if d["features"] is not None and len(d["features"])]
        seen.update(videos=videos, timelines=timelines(ids) if timelines else {})
        return groups(videos, seed, timelines, new)

    def keep_look(results, *args, **kwargs):
        seen["file"] = {r.fingerprint: os.path.basename(r.video.rel) for r in results}
        return look(results, *args, **kwargs)

    def keep_score(truth, planned):
        seen["planned"] = planned
        return score(truth, planned)

    rp.groups, ls.look, bl.score = keep_groups, keep_look, keep_score
    return seen


def explain(a: dict, b: dict, mean: np.ndarray) -> str:
    own_a, own_b = rp._own(a), rp._own(b)
    if own_a and own_b:
        xa, xb = (l2n(l2n(v["features"][own]) - mean) for v, own in ((a, own_a), (b, own_b)))
        cosine = f"{float((xa @ xb.T).max()):.2f}"
    else:
        cosine = "-"
    if a.get("timeline") is None or b.get("timeline") is None:
        return f"keyframes {cosine}, no timeline"
    short, long_ = (a, b) if a["duration"] <= b["duration"] else (b, a)
    match = tl.compare(rp.timeline_of(short), rp.timeline_of(long_))
    if match is None:
        return f"keyframes {cosine}, timelines not comparable"
    return (f"keyframes {cosine}, offset {match.offset:.2f} s, mirrored {match.mirrored}, zoom {match.zoom:g}, "
            f"looks {match.looks:.3f}, windows {match.windows} (agreeing {match.agreeing}), own {match.marked:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("libraries", type=Path, nargs="+")
    ap.add_argument("--state", type=Path, required=True, help="keep analyses here between runs")
    ap.add_argument("--models", type=Path, default=HERE.parent.parent / "shared" / "models")
    ap.add_argument("--model", type=int, default=0, help="which offline model (0: MobileNet v1, 1: v2)")
    args = ap.parse_args()
    name, extra = offline_models(args.models, False)[args.model]
    seen = capture()
    for library in args.libraries:
        where = args.state / f"{library.name}-{name.replace(' ', '_')}"
        where.mkdir(parents=True, exist_ok=True)
        truth = {t["file"]: t["video"] for t in bl.truth_of(library)}
        out = bl.run(library, extra, where, "auto")
        videos = {f: {**d, "timeline": seen["timelines"].get(f)} for f, d in seen["videos"].items()}
        by_file = {seen["file"][f]: videos[f] for f in videos if f in seen["file"]}
        mean = np.concatenate([l2n(d["features"]) for d in videos.values()]).mean(0)
        same: dict[str, list[str]] = {}
        for file, video in truth.items():
            same.setdefault(video, []).append(file)
        true = bl.pairs([g for g in same.values() if len(g) > 1])
        found = bl.pairs([[os.path.basename(p) for p in g] for g in seen["planned"].plan.same_video])
        print(f"== {library.name}, {name}: precision / recall {out.get('precision', 1):.2f} / "
              f"{out.get('recall', 1):.2f}")
        for kind, pairs in (("missed", sorted(true - found)), ("wrong", sorted(found - true))):
            for x, y in pairs:
                why = explain(by_file[x], by_file[y], mean) if x in by_file and y in by_file else "no analysis"
                print(f"  {kind}: {x} ~ {y} ({by_file.get(x, {}).get('duration', 0):.1f} s / "
                      f"{by_file.get(y, {}).get('duration', 0):.1f} s): {why}")


if __name__ == "__main__":
    main()
