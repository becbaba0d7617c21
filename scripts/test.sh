#!/usr/bin/env bash
# The test command of the project (README and .ci/run).
#   1. a brand-new virtual environment (.venv-ci, git-ignored), installed from requirements.lock only, so
#      nothing this machine happens to have (a system pytest, a wheel, a browser) can hide a missing pin;
#   2. Debian's chromium for the real-browser test (tests/test_browser.py) when it is missing;
#   3. pytest inside that environment. Arguments go to pytest: bash scripts/test.sh core/ -q
# ORDERLAB_REUSE_VENV=1 keeps an existing .venv-ci (a quick rerun while developing); CI never sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-ci
start=$SECONDS
if [ "${ORDERLAB_REUSE_VENV:-0}" != 1 ] || [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # setuptools from the lock first, then the project without build isolation: the build is pinned too.
  # (pip's warnings about configured index folders that do not exist on this machine are filtered out.)
  {
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -c requirements.lock setuptools
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation \
      -c requirements.lock -e ".[dev]"
  } 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  # Playwright drives this system browser; its own browser download is not used.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "test environment ready in $((SECONDS - start)) s ($("$venv/bin/python" -m pytest --version))"
export VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH"  # subprocesses (python, streamlit, torchrun)
python -m pytest "$@"
