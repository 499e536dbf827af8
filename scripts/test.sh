#!/usr/bin/env bash
# One command that installs organizer with its test dependencies and the Ray extra into .venv and runs the whole test suite
# (slow tests included). Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The report test drives a real headless Chromium (Debian's package); install it where we can.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
    || echo "warning: could not install chromium; the report screenshot test will fail in CI" >&2
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "organizer needs Python 3.11 or newer"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,ray]'
exec .venv/bin/python -m pytest "$@"
