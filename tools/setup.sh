#!/usr/bin/env bash
# Set-up in one command: makes .venv, installs inrcodec into it, then runs the demo or the tests.
#   bash tools/setup.sh demo   encode, decode and crop the bundled photo, printing sizes, bpp, PSNR, times
#   bash tools/setup.sh test   the test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first, pinned to the release we test: where a local build of it is on hand pip takes that
# (a CPU build in seconds); elsewhere the newest torch that pip finds for this platform.
.venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0" || "${pip[@]}" torch
"${pip[@]}" -e ".[test]"
case "${1:-demo}" in
  demo) exec .venv/bin/python -m inrcodec.demo ;;
  test) exec .venv/bin/python -m pytest -q -m "not slow" ;;
  *) echo "usage: bash tools/setup.sh [demo|test]" >&2; exit 2 ;;
esac
