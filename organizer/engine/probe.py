"""Is a recently written video complete? Its container opens, has a video stream, and a frame near its end decodes.

A library copied with `cp` gives every file a fresh modification time, so the settle time alone would leave a whole
library alone for ten minutes. A file that no process writes, that does not grow, and whose container is complete
is finished, whatever its time. The check decodes, and native decoders can crash: it runs in one child process for
all the files of a run (`python -m organizer.engine.probe`), so a crash or a hang costs the check (those files wait, as
downloads do), never the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from organizer.engine.spawn import child_env

TAIL_SECONDS = 2.0           # decoding starts this far before the end
END_SLACK = 0.5              # the last frame must lie this close to the end the headers give (audio may run longer)


def complete_containers(paths: list[str], timeout: float = 120.0) -> set[str]:
    """The paths among `paths` whose container is complete (an empty set when the check itself fails)."""
    if not paths:
        return set()
    request = json.dumps([os.fsencode(p).hex() for p in paths])
    try:
        proc = subprocess.run([sys.executable, "-m", "organizer.engine.probe"], input=request, capture_output=True,
                              text=True, timeout=timeout, env=child_env())
        done = json.loads(proc.stdout or "[]") if proc.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return set()
    return {os.fsdecode(bytes.fromhex(h)) for h in done if isinstance(h, str)}


def is_complete(path: bytes) -> bool:
    """In the child: open without following links or blocking, then decode near the end."""
    import av

    from organizer.analysis.decode import media_path
    try:
        with media_path(path) as media, av.open(media) as container:
            if not container.streams.video:
                return False
            stream = container.streams.video[0]
            duration = (float(stream.duration * stream.time_base) if stream.duration and stream.time_base
                        else (container.duration or 0) / 1_000_000)
            if duration <= 0:
                return False
            target = max(0.0, duration - TAIL_SECONDS)
            container.seek(int(target * 1_000_000), any_frame=False, backward=True)
            last = None
            for frame in container.decode(stream):
                if frame.time is not None:
                    last = frame.time
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            return last is not None and last >= duration - max(END_SLACK, 3 / fps)
    except Exception:          # any failure to open or decode means: not known to be complete
        return False


def main() -> None:
    paths = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
    print(json.dumps([p.hex() for p in paths if is_complete(p)]))


if __name__ == "__main__":
    main()
