#!/usr/bin/env bash
# Install Roadie's pinned dependencies into a virtualenv: the same steps for `make install` and the Docker image.
#   scripts/install.sh VENV LOCKFILE...     e.g. scripts/install.sh .venv requirements.lock
# The lock is complete and pinned, so pip never resolves (--no-deps). With TORCH_INDEX_URL set (the
# Dockerfile sets PyTorch's CPU wheel index), torch comes from there first: no CUDA libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: scripts/install.sh VENV LOCKFILE...}
shift
python=${PYTHON:-python3.11}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --no-deps --disable-pip-version-check -q)
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  torch=$(grep -hE '^torch==' "$@" | head -1)
  "${pip[@]}" --index-url "$TORCH_INDEX_URL" "${torch:-torch}"
fi
for lock in "$@"; do
  "${pip[@]}" -r "$lock"
done
