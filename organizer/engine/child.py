"""Entry point of organize's child processes (workers and the model process): python -m organizer.engine.child FD.

FD is this process's end of a socket pair; the parent's first message says which role to play and with what.
A module of its own, so that the classes the child sends back are the importable organizer.engine.workers ones.
"""

import sys

from organizer.engine.workers import child_entry

child_entry(int(sys.argv[1]))
