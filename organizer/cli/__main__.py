"""`python -m organizer.cli` runs the command line (as the `organize` script does)."""

from organizer.cli import main

main()
