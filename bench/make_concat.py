"""A third generator (issue 26): edits assembled the way people join clips without an editor, by ffmpeg's concat of
parts each re-encoded on its own, at mixed resolutions and frame rates, copied into one Matroska file:

    python bench/make_concat.py OUT [--videos ../shared/videos] [--count 20] [--seed 3] [--half report]

Each part is one appearance of a scene (3-7 distinct scenes per video, with returns), 0.6-5 s long, at one of five
sizes (letterboxed, cropped or stretched as a careless tool would) and one of four frame rates; a third of the parts
fade in or out from black inside themselves. The stream changes size where the parts meet. The parts have no
B-frames: copied across a change of frame rate, B-frames leave the joined file with runs of frames at one instant. The truth is in
milliseconds ("fps": 1000), as the parts' frame rates differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import generator_args  # noqa: E402
from make_edits_b import pool_of  # noqa: E402   (the per-clip scene stretches; the assembly here is its own)

SIZES = (("1280", "720", "crop"), ("640", "360", "pad"), ("854", "480", "stretch"), ("480", "360", "pad"),
         ("1920", "1080", "crop"))
RATES = (24, 25, 30, 15)


def part(ffmpeg: str, src: Path, start: float, seconds: float, size, rate: int, fade: str, out: Path) -> float:
    """Encode one part; returns its exact duration in seconds (its frames at its rate)."""
    w, h, how = size
    fit = {"crop": f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}",
           "pad": f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:black",
           "stretch": f"scale={w}:{h}"}[how]
    frames = max(2, round(seconds * rate))
    chain = f"fps={rate},{fit},setsar=1,format=yuv420p"
    if fade:
        kind, n = fade.split(":")
        start_frame = 0 if kind == "in" else frames - int(n)
        chain += f",fade=t={kind}:start_frame={start_frame}:nb_frames={n}"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", f"{start:.3f}", "-i", str(src), "-vf", chain, "-frames:v",
                    str(frames), "-r", str(rate), "-c:v", "libx264", "-preset", "veryfast", "-crf", "21", "-bf", "0",
                    "-pix_fmt", "yuv420p", "-an", str(out)], check=True)
    return frames / rate


def make(rng: np.random.Generator, pool: list[dict], videos: Path, out: Path, ffmpeg: str) -> dict:
    m = int(rng.integers(3, min(7, len(pool)) + 1))
    scenes = [int(i) for i in rng.choice(len(pool), m, replace=False)]
    order = scenes + [int(x) for x in rng.choice(scenes, int(rng.integers(1, m)))]
    rng.shuffle(order)
    for _ in range(20):
        for i in range(1, len(order)):
            if order[i] == order[i - 1]:
                j = int(rng.integers(0, len(order)))
                order[i], order[j] = order[j], order[i]
    parts: list[list[tuple[int, str]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        listing = []
        for n, sid in enumerate(order):
            scene = pool[sid]
            seconds = float(min(rng.uniform(0.6, 5.0), scene["length"]))
            start = scene["start"] + float(rng.uniform(0, max(0.0, scene["length"] - seconds)))
            size, rate = SIZES[int(rng.integers(len(SIZES)))], int(rng.choice(RATES))
            fade = ""
            if rng.random() < 0.33 and seconds >= 1.2:
                fade = f"{rng.choice(['in', 'out'])}:{max(3, round(rng.uniform(0.3, 0.6) * rate))}"
            path = Path(tmp) / f"p{n:02d}.ts"
            length = part(ffmpeg, videos / scene["file"], start, seconds, size, rate, fade, path)
            listing.append(f"file '{path}'")
            frames = round(length * rate)
            fading = int(fade.split(":")[1]) if fade else 0
            if fade.startswith("in"):
                parts.append([(fading, "transition"), (frames - fading, str(sid))])
            elif fade:
                parts.append([(frames - fading, str(sid)), (fading, "transition")])
            else:
                parts.append([(frames, str(sid))])
        (Path(tmp) / "list.txt").write_text("\n".join(listing) + "\n")
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(Path(tmp) / "list.txt"),
                        "-c", "copy", str(out)], check=True)
    return {"kind": "concat", "order": order, "scenes": sorted(set(order)), "spans": spans_of(out, parts)}


def spans_of(out: Path, parts: list[list[tuple[int, str]]]) -> list[list]:
    """The truth in the joined file's own clock: its frames, decoded in order, belong to the parts in turn (the
    muxer, not the parts' lengths, decides when each is shown)."""
    import av

    with av.open(str(out)) as c:
        times = [float(f.time) for f in c.decode(c.streams.video[0])]
    labels = [label for runs in parts for n, label in runs for _ in range(n)]
    if len(labels) != len(times):
        raise SystemExit(f"{out}: {len(times)} frames decoded, {len(labels)} written; the truth would not line up")
    if any(b <= a for a, b in zip(times, times[1:])):
        raise SystemExit(f"{out}: the joined file shows some frames at one instant; its truth would not be seen")
    spans, ms = [], [int(round(t * 1000)) for t in times] + [int(round(times[-1] * 1000)) + 40]
    for i, label in enumerate(labels):
        if spans and spans[-1][2] == label and spans[-1][1] == ms[i]:
            spans[-1][1] = max(ms[i + 1], ms[i] + 1)
        else:
            spans.append([ms[i], max(ms[i + 1], ms[i] + 1), label])
    return spans


def main() -> None:
    args, ffmpeg = generator_args(__doc__, "make_concat", 20, 3)
    pool = pool_of(args.videos, args.half)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    truth = {"fps": 1000, "generator": "make_concat", "half": args.half, "pool": pool, "videos": {}}
    for n in range(args.count):
        name = f"concat-{n:02d}.mkv"
        video = make(rng, pool, args.videos, args.out / name, ffmpeg)
        truth["videos"][name] = video
        print(name, len(video["order"]), "parts of", len(video["scenes"]), "scenes,", video["spans"][-1][1] // 1000, "s")
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()
