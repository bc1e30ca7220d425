#!/usr/bin/env bash
# The separate venv bench/.venv-tipg with tipg and uvicorn (bench/requirements-tipg.txt), which the
# exchange benchmark serves the same tables with. Idempotent: reinstalls only when the
# requirements file changed. tipg's FastAPI/pydantic never enter the app's .venv.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/bench/.venv-tipg"
requirements="$root/bench/requirements-tipg.txt"
stamp="$venv/.installed"

if [ -f "$stamp" ] && [ "$stamp" -nt "$requirements" ] && [ -x "$venv/bin/uvicorn" ]; then
  exit 0
fi
test -x "$venv/bin/python" || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
touch "$stamp"
echo "bench-tipg: tipg $("$venv/bin/python" -c 'import tipg; print(tipg.__version__)') in bench/.venv-tipg"
