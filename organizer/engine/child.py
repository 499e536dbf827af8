"""Entry point of organize's child processes (workers and the model process): python -m organizer.engine.child FD.

FD is this process's end of a socket pair; the parent's first message says which role to play and with what.
A module of its own, so that the classes the child sends back are the importable organizer.engine.workers ones,
and so that neither role's module needs to know the other.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from organizer.engine.model_server import serve
from organizer.engine.workers import worker_main


def child_entry(fd: int) -> None:
    """Run the role the parent asks for on the connection at fd."""
    conn = Connection(fd)
    role, *args = conn.recv()
    if role == "model":
        serve(conn, *args)
    else:
        worker_main(conn, *args)


if __name__ == "__main__":
    child_entry(int(sys.argv[1]))
