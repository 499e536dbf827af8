"""`organize review`: the plan on a local web page that a person edits (rename, move, exclude, merge), saves as a new
manifest and applies. session.py holds the plan and what the page needs (thumbnails from the cache, never a path
from the browser); page.py renders it; server.py serves it on 127.0.0.1 behind a token, for one user.

May import the leaf modules (config among them), library, pipeline and moves; never click or rich.
"""
