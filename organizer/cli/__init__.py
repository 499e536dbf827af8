"""The `organize` command line. Only this package imports click and rich: it parses options, calls the library
service (organizer.library) and renders what it returns."""

from organizer.cli.app import COMMANDS, EXIT_CODES, main
from organizer.cli import commands  # noqa: F401  (registers the commands on `main`)

__all__ = ["COMMANDS", "EXIT_CODES", "main"]
