"""The `organize` command line. Only this package imports click and rich: it parses options, calls the library
service (organizer.library) and renders what it returns."""

from .app import COMMANDS, EXIT_CODES, main
from . import commands  # noqa: F401  (registers the commands on `main`)

__all__ = ["COMMANDS", "EXIT_CODES", "main"]
