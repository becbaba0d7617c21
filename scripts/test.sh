#!/usr/bin/env bash
# The test command of the project (README and .ci/run): install with the dev extra, make sure Debian's
# chromium is there for the browser test (tests/test_browser.py), then run pytest.
# Arguments go to pytest, e.g.: bash scripts/test.sh tests/test_browser.py -s
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -c constraints.txt -e ".[dev]"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  # Playwright drives this system browser; its own browser download is not used.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python -m pytest "$@"
