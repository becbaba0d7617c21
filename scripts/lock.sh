#!/usr/bin/env bash
# Regenerate requirements.lock: every direct and transitive dependency of the project and of its dev and
# bench extras, pinned, for Python >= 3.10 on every platform (uv's universal resolution). Needs uv
# (`pip install uv`). Both README commands install with `-c requirements.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile pyproject.toml requirements.in --extra dev --extra bench --universal --python-version 3.10 \
  --custom-compile-command "bash scripts/lock.sh" -o requirements.lock "$@"
