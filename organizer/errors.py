"""Domain errors. Every message says what happened and what the user can do next."""

from __future__ import annotations


class OrganizerError(Exception):
    """Base class for errors a user can meet; the CLI prints the message without a traceback."""

    exit_code = 1


class ConfigError(OrganizerError):
    """A setting or config file is invalid."""


class ModelUnavailable(OrganizerError):
    """The feature model cannot be loaded (missing weights, offline, bad file)."""


class VideoUnreadable(OrganizerError):
    """A video cannot be opened or decoded by any backend."""


class BadFlag(ConfigError):
    """A command-line option was given a value it cannot take: a usage error, like click's own."""

    exit_code = 2


class ManifestError(OrganizerError):
    """A manifest is malformed or unsafe (paths escaping root or dest)."""


class LibraryNotWritable(OrganizerError):
    """PATH/.organizer (lock, journal, state) cannot be created or written."""


class LockBusy(OrganizerError):
    """Another run holds the library lock."""

    exit_code = 3


class NothingProcessed(OrganizerError):
    """Videos were found but none could be processed."""

    exit_code = 4


class StateError(OrganizerError):
    """The library state database is corrupt, foreign or from a newer version."""

    exit_code = 6


class RecoveryBlocked(OrganizerError):
    """An interrupted move cannot be finished yet: one of its folders is out of reach. Nothing is moved."""

    exit_code = 7


class StateBusy(OrganizerError):
    """Another program holds the state database; nothing was changed."""

    exit_code = 3


class MoveInterrupted(OrganizerError):
    """An I/O error stopped the run in the middle of a move: the move stays open for recovery."""
