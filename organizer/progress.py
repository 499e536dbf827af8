"""How the core reports progress: a small protocol the CLI implements (a rich bar) and tests record."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, name: str) -> None: ...        # what the run is doing now: "scanning", "clustering", ...
    def start(self, total: int) -> None: ...       # the analysis bar: called once the first video is analysed
    def advance(self, label: str) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing (library use, cron)."""

    def phase(self, name: str) -> None:
        pass

    def start(self, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass

    def finish(self) -> None:
        pass
