"""`python -m organizer` runs the command line (as the `organize` script does)."""

from organizer.cli import main

main()
