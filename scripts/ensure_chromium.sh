#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's chromium at /usr/bin/chromium (never a
# browser downloaded by Playwright). `make test` runs this first: it installs the
# Debian package when the browser is missing (as root, or through sudo without a
# password), else says how to install it and fails.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "error: the browser tests need Debian's chromium at $CHROMIUM; install it as root:" \
        "apt-get install -y chromium" >&2
    exit 1
fi
echo "Installing Debian's chromium for the browser tests (apt-get install chromium)..."
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -q chromium >/dev/null 2>&1 \
    || { "${as_root[@]}" apt-get update -q && "${as_root[@]}" apt-get install -y -q chromium; }
[ -x "$CHROMIUM" ] || { echo "error: apt-get installed chromium, but not at $CHROMIUM" >&2; exit 1; }
