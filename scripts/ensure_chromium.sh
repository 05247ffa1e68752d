#!/bin/sh
# Debian's Chromium for the Playwright UI test (tests/ui). Playwright's own browser download needs
# the internet; Debian's package comes from the Debian mirror. Best effort: without root or apt the
# UI test skips and says why.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the UI test (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; then
        echo "WARNING: apt-get install chromium failed; tests/ui will skip" >&2
    fi
else
    echo "NOTE: chromium is not installed and this user cannot apt-get it; tests/ui will skip" >&2
fi
exit 0
