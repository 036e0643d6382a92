#!/usr/bin/env bash
# Recompile requirements.lock (runtime) and requirements-dev.lock (runtime + dev) with uv.
# torch stays on its CPU build: the CUDA packages PyPI's torch names are left out of both locks.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || python3 -m pip install -q uv
compile() {
  uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --no-header --quiet "$@"
}
for target in requirements.lock requirements-dev.lock; do
  extra=(); [ "$target" = requirements-dev.lock ] && extra=(--extra dev)
  gpu=$(compile "${extra[@]}" | grep -oE '^(nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+|triton)==' | tr -d '=' || true)
  no_emit=(); for name in $gpu; do no_emit+=(--no-emit-package "$name"); done
  compile "${extra[@]}" "${no_emit[@]}" -o "$target"
done
! grep -E '^(nvidia-|cuda-|triton)' requirements*.lock
