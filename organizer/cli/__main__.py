"""`python -m organizer.cli` runs the command line (as the `organize` script does)."""

from . import main

main()
