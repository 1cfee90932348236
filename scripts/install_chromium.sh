#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the HTML report tests (tests/test_report_html.py).
# Never fails the caller: when Chromium cannot be installed (no root, no apt, no network) it says
# why and exits 0; the browser tests then skip with a reason.
set -uo pipefail

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(command -v chromium || echo /usr/bin/chromium)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: apt-get not found; install Chromium yourself to run the browser tests" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_chromium: not root and no passwordless sudo; skipping (browser tests will skip)" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium; then
    echo "chromium installed: $(command -v chromium)"
else
    echo "install_chromium: apt-get could not install chromium; skipping (browser tests will skip)" >&2
fi
exit 0
