"""organizer: group a library of videos by what they show.

For Python users, the few names below are the whole interface; everything else is inside the subpackages
(docs/DESIGN.md has the map). A run in three lines::

    from organizer import Library, RunOptions, resolve

    with Library.open("~/Videos") as library:
        report = library.run(resolve({"clusters": "auto"}), RunOptions(dry_run=True))

Names are imported when first used, so `import organizer` stays cheap (the CLI's --help, worker processes).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_WHERE = {
    "Library": "organizer.library", "RunOptions": "organizer.library", "NeverOrganized": "organizer.library",
    "Settings": "organizer.config", "resolve": "organizer.config",
    "RunReport": "organizer.summary", "MoveReport": "organizer.summary",
    "Failure": "organizer.types", "OrganizerError": "organizer.errors",
}
__all__ = ["__version__", *_WHERE]

if TYPE_CHECKING:
    from organizer.config import Settings, resolve
    from organizer.errors import OrganizerError
    from organizer.library import Library, NeverOrganized, RunOptions
    from organizer.summary import MoveReport, RunReport
    from organizer.types import Failure


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'organizer' has no attribute {name!r}")
