"""Edited test videos with known truth: scenes cut from the shared clips, joined by ffmpeg transitions.

    python bench/make_edits.py OUT [--videos ../shared/videos] [--per-set 8] [--seed 11] [--sets clean mixed ...]
                                   [--half tune|report|all]

Each video shows 3-6 distinct scenes that come back (A B A C ...), 1.8-7 s per appearance, 640x360 at 25 frames/s,
H.264. A scene is a stretch of one clip with no cut, fade or big change in it (from the clip's own frame differences), one
per clip group, so two scenes never show the same thing. Between appearances, by set:

    clean     cuts only (the clean-splice case)
    dissolve  xfade fade/dissolve, 0.5-1 s
    fade      xfade fadeblack (fade through black), 0.6-1.2 s
    wipe      xfade wipes and slides, 0.5-1 s
    flash     6 frames of white (or a colour) between scenes, and inside a scene
    ends      a black leader (1-2 s) before the first scene and a fade-out (0.8-1.5 s) at the end, cuts between
    mixed     any of the above, with a leader and a fade-out half of the time

The truth, written next to the videos as truth.json, labels every stretch of each video with its scene or with
what it is instead (transition, flash, leader, fadeout). Each appearance keeps at least 0.6 s clear of its
transitions. A returning scene starts at another point of its stretch (a return, not a copy).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import in_half  # noqa: E402

FPS = 25
W, H = 640, 360
SETS = ("clean", "dissolve", "fade", "wipe", "flash", "ends", "mixed")
WIPES = ("wipeleft", "wiperight", "wipeup", "wipedown", "slideleft", "slideright")
FLASH_COLOURS = ("white", "white", "white", "red", "yellow", "0x3060ff")
CUT_MAD = 0.10           # a frame-to-frame change above this (0-1 grey, 32x32) is a cut inside a source clip
DRIFT_MAD = 0.12         # a change above this over one second is a transition or a new picture inside a clip
MIN_CLEAR = 0.6          # seconds of each appearance clear of its transitions


@dataclass
class Scene:
    file: str
    start: float           # the cut-free stretch of the clip
    length: float


def grey_thumbs(path: Path) -> tuple[np.ndarray, float]:
    import av
    import cv2

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate or 25)
        out = [cv2.resize(f.to_ndarray(format="gray"), (32, 32), interpolation=cv2.INTER_AREA)
               for f in c.decode(s)]
    return np.array(out, np.float32) / 255, fps


def scene_pool(videos: Path, cap: float = 10.0, half: str = "all") -> list[Scene]:
    """One scene per clip group: the longest stretch (at most `cap` s) with no cut and no dark frame; only groups on
    `half` of the tune/report split (bench/clips.py)."""
    pool, seen = [], set()
    with open(videos / "videos.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            group = row["group"] if row["group"] != "-" else row["file"]
            if group in seen or not in_half(row, half):
                continue
            thumbs, fps = grey_thumbs(videos / row["file"])
            bad = np.zeros(len(thumbs), bool)
            bad[1:] |= np.abs(np.diff(thumbs, axis=0)).mean((1, 2)) > CUT_MAD
            bad |= thumbs.mean((1, 2)) < 0.12
            second = max(1, round(fps))                 # no dissolve or big change inside: 1 s apart stays alike
            if len(thumbs) > second:
                bad[second:] |= np.abs(thumbs[second:] - thumbs[:-second]).mean((1, 2)) > DRIFT_MAD
            best, run_start = (0, 0), 0
            for i in range(len(thumbs) + 1):
                if i == len(thumbs) or bad[i]:
                    if i - run_start > best[1] - best[0]:
                        best = (run_start, i)
                    run_start = i + 1
            length = min(cap, (best[1] - best[0]) / fps - 0.2)
            if length >= 2.0:
                seen.add(group)
                pool.append(Scene(row["file"], best[0] / fps + 0.1, round(length, 2)))
    return pool


def frames(seconds: float) -> int:
    return max(1, round(seconds * FPS))


def plan_video(rng: np.random.Generator, pool: list[Scene], kind: str) -> dict:
    """The appearances, transitions and ends of one video (all lengths in frames)."""
    m = int(rng.integers(3, 7))
    scenes = [int(i) for i in rng.choice(len(pool), m, replace=False)]
    order = scenes + [int(x) for x in rng.choice(scenes, int(rng.integers(1, m + 1)))]
    rng.shuffle(order)
    for _ in range(10):                                   # no scene directly after itself
        for i in range(1, len(order)):
            if order[i] == order[i - 1]:
                j = int(rng.integers(0, len(order)))
                order[i], order[j] = order[j], order[i]
    kinds = {"clean": ["cut"], "dissolve": ["dissolve"], "fade": ["fadeblack"], "wipe": ["wipe"],
             "flash": ["flash"], "ends": ["cut"],
             "mixed": ["cut", "dissolve", "fadeblack", "wipe", "flash"]}[kind]
    joins = []
    for _ in range(len(order) - 1):
        k = str(rng.choice(kinds))
        if k == "cut":
            joins.append({"kind": "cut", "frames": 0})
        elif k == "flash":
            joins.append({"kind": "flash", "frames": 6, "colour": str(rng.choice(FLASH_COLOURS))})
        else:
            lo, hi = (0.6, 1.2) if k == "fadeblack" else (0.5, 1.0)
            name = {"dissolve": str(rng.choice(["fade", "dissolve"])), "fadeblack": "fadeblack",
                    "wipe": str(rng.choice(WIPES))}[k]
            joins.append({"kind": k, "xfade": name, "frames": frames(rng.uniform(lo, hi))})
    ends = kind == "ends" or (kind == "mixed" and rng.random() < 0.5)
    leader = frames(rng.uniform(1.0, 2.0)) if ends else 0
    fadeout = frames(rng.uniform(0.8, 1.5)) if ends else 0
    inner_flash = kind in ("flash", "mixed") and rng.random() < 0.5   # a flash inside one appearance
    appearances = []
    for i, sid in enumerate(order):
        scene = pool[sid]
        before = joins[i - 1]["frames"] if i and "xfade" in joins[i - 1] else 0
        after = joins[i]["frames"] if i < len(joins) and "xfade" in joins[i] else 0
        if i == len(order) - 1:
            after += fadeout
        need = before + after + frames(MIN_CLEAR)
        most = frames(scene.length) - 1
        length = int(np.clip(frames(rng.uniform(1.8, 7.0)), need, max(need, most)))
        length = min(length, most) if most >= need else need
        start = scene.start + float(rng.uniform(0, max(0.0, scene.length - length / FPS)))
        appearances.append({"scene": sid, "file": scene.file, "start": round(start, 3), "frames": length})
    flash_at = int(rng.integers(0, len(order))) if inner_flash else -1
    return {"kind": kind, "order": order, "scenes": sorted(set(order)), "joins": joins, "appearances": appearances,
            "leader": leader, "fadeout": fadeout, "inner_flash": flash_at}


def timeline(plan: dict) -> list[tuple[int, int, str]]:
    """(first frame, end frame, label) for the whole video; label is a scene number or what the frames are."""
    spans: list[list] = []
    at = 0
    if plan["leader"]:
        spans.append([0, plan["leader"], "leader"])
        at = plan["leader"]
    for i, a in enumerate(plan["appearances"]):
        join = plan["joins"][i - 1] if i else None
        if join and join["kind"] == "flash":
            spans.append([at, at + join["frames"], "flash"])
            at += join["frames"]
        if join and "xfade" in join:
            d = join["frames"]
            spans[-1][1] -= d                    # the previous scene ends where the transition starts
            spans.append([at - d, at, "transition"])
            spans.append([at, at - d + a["frames"], str(a["scene"])])
            first = at - d
            at += a["frames"] - d
        else:
            spans.append([at, at + a["frames"], str(a["scene"])])
            first = at
            at += a["frames"]
        if plan["inner_flash"] == i:
            s, e, label = spans.pop()
            mid = first + a["frames"] // 2
            spans += [[s, mid - 3, label], [mid - 3, mid + 3, "flash"], [mid + 3, e, label]]
    if plan["fadeout"]:
        spans[-1][1] -= plan["fadeout"]
        spans.append([at - plan["fadeout"], at, "fadeout"])
    return [tuple(s) for s in spans]


def render(plan: dict, videos: Path, out: Path, ffmpeg: str) -> None:
    inputs, graph, labels = [], [], []
    norm = f"fps={FPS},scale={W}:{H}:force_original_aspect_ratio=increase,crop={W}:{H},setsar=1,format=yuv420p,settb=AVTB"
    for i, a in enumerate(plan["appearances"]):
        inputs += ["-i", str(videos / a["file"])]
        graph.append(f"[{i}:v]trim=start={a['start']}:duration={a['frames'] / FPS + 0.2},setpts=PTS-STARTPTS,{norm},"
                     f"trim=end_frame={a['frames']}[a{i}]")
        labels.append(f"a{i}")
    if plan["inner_flash"] >= 0:
        i = plan["inner_flash"]
        mid = plan["appearances"][i]["frames"] // 2
        graph.append(f"[a{i}]drawbox=enable='between(n,{mid - 3},{mid + 2})':color=white:t=fill[a{i}f]")
        labels[i] = f"a{i}f"
    chain = labels[0]
    at = plan["appearances"][0]["frames"]
    if plan["leader"]:
        graph.append(f"color=c=black:s={W}x{H}:r={FPS}:d={plan['leader'] / FPS},format=yuv420p,settb=AVTB[lead]")
        graph.append(f"[lead][{chain}]concat=n=2:v=1:a=0,settb=AVTB[c0]")
        chain, at = "c0", at + plan["leader"]
    for i, join in enumerate(plan["joins"], start=1):
        nxt, a = labels[i], plan["appearances"][i]
        if join["kind"] == "flash":
            graph.append(f"color=c={join['colour']}:s={W}x{H}:r={FPS}:d={join['frames'] / FPS},format=yuv420p,"
                         f"settb=AVTB[f{i}]")
            graph.append(f"[{chain}][f{i}][{nxt}]concat=n=3:v=1:a=0,settb=AVTB[c{i}]")
            at += join["frames"] + a["frames"]
        elif "xfade" in join:
            d = join["frames"]
            graph.append(f"[{chain}][{nxt}]xfade=transition={join['xfade']}:duration={d / FPS}:"
                         f"offset={(at - d) / FPS},settb=AVTB[c{i}]")
            at += a["frames"] - d
        else:
            graph.append(f"[{chain}][{nxt}]concat=n=2:v=1:a=0,settb=AVTB[c{i}]")
            at += a["frames"]
        chain = f"c{i}"
    if plan["fadeout"]:
        graph.append(f"[{chain}]fade=t=out:start_frame={at - plan['fadeout']}:nb_frames={plan['fadeout']}[end]")
        chain = "end"
    cmd = [ffmpeg, "-v", "error", "-y", *inputs, "-filter_complex", ";".join(graph), "-map", f"[{chain}]",
           "-frames:v", str(at), "-r", str(FPS), "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
           "-pix_fmt", "yuv420p", "-an", str(out)]
    subprocess.run(cmd, check=True)


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--per-set", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    ap.add_argument("--half", choices=("tune", "report", "all"), default="all",
                    help="use only the clips on this side of the tune/report split (bench/clips.py)")
    args = ap.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("make_edits needs the ffmpeg program (apt install ffmpeg)")
    pool = scene_pool(args.videos, half=args.half)
    print(f"{len(pool)} scenes: " + ", ".join(f"{s.file} {s.length:.1f} s" for s in pool))
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    truth = {"fps": FPS, "generator": "make_edits", "half": args.half, "pool": [asdict(s) for s in pool], "videos": {}}
    for kind in args.sets:
        for n in range(args.per_set):
            plan = plan_video(rng, pool, kind)
            name = f"{kind}-{n:02d}.mp4"
            render(plan, args.videos, args.out / name, ffmpeg)
            truth["videos"][name] = {**plan, "spans": timeline(plan)}
            print(name, len(plan["order"]), "appearances of", len(plan["scenes"]), "scenes,",
                  sum(a["frames"] for a in plan["appearances"]) // FPS, "s")
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()
