"""UTC time as organize writes it: ISO 8601 in records, compact stamps in file names."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def now_iso() -> str:
    """The current UTC time as ISO 8601, to the second (journals, manifests, the state database)."""
    return utc_now().isoformat(timespec="seconds")


def stamp(micro: bool = False) -> str:
    """A compact UTC stamp for file names: 20261126T185050Z (or with microseconds)."""
    return utc_now().strftime("%Y%m%dT%H%M%S%fZ" if micro else "%Y%m%dT%H%M%SZ")


class Laps:
    """Seconds spent in each phase of a run, in order (reported in --json as `timings`)."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 3)
        self._last = now

    @property
    def total(self) -> float:
        return time.monotonic() - self.started
