#!/bin/sh
# azd predeploy hook: never publish forewarn without its routing file. Without one the app
# would accept every alert and park each event in a poison queue; stopping here says so at the
# one moment someone is looking.
set -eu
path="${FOREWARN_CONFIG_PATH:-forewarn.yaml}"
if [ ! -s "$path" ]; then
  echo "forewarn: no routing file at '$path', so every event would end in a poison queue." >&2
  echo "forewarn: run 'forewarn init' (or set FOREWARN_CONFIG_PATH), edit it, then deploy again." >&2
  exit 1
fi
# Validate it too where the project's Python environment is at hand (make install makes one);
# the deployment itself needs no local Python, so without one the presence check is all.
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import shared.cli' >/dev/null 2>&1; then
  .venv/bin/python -m shared.cli config validate "$path"
else
  echo "forewarn: '$path' found; not validated (no .venv here: make install makes one)." >&2
fi
