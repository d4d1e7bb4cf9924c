#!/usr/bin/env bash
# Installs what tests/test_ui_browser.py needs on a fresh Debian machine: the system
# Chromium at /usr/bin/chromium. The Python side (playwright==1.65.2) comes from the
# project's test extra: pip install -e '.[test]'. Never run `playwright install`: the
# tests drive this Chromium through executable_path and download no browser.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium
/usr/bin/chromium --version
