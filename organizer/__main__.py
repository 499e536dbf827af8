"""`python -m organizer` runs the command line (as the `organize` script does)."""

from .cli import main

main()
