#!/usr/bin/env bash
# Headless Chromium for the report's browser test (tests/report): the HTML reports are loaded in a
# real browser, checked for console errors and non-empty plots, and screenshotted. Debian's
# package, so it comes from the same registry as the rest of the lab's tools. Idempotent.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
[ "$(id -u)" = 0 ] || { echo "setup: installing chromium needs root (apt-get); run as root" >&2; exit 2; }
printf '\033[1msetup:\033[0m %s\n' "apt-get install chromium (headless browser for the report test)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
