#!/bin/sh
# Debian's PostgreSQL 15 for the team-setup tests (a throwaway server per test session: DuckLake
# catalog and the PostgreSQL serving target). Best effort, like scripts/ensure_chromium.sh: without
# root or apt those tests skip and say why.
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    exit 0
fi
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian postgresql-15 for the team-setup tests (apt-get install postgresql-15)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y -q postgresql-15 >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql-15 >/dev/null 2>&1; }; }; then
        echo "WARNING: apt-get install postgresql-15 failed; the PostgreSQL tests will skip" >&2
    fi
else
    echo "NOTE: PostgreSQL is not installed and this user cannot apt-get it; the PostgreSQL tests will skip" >&2
fi
exit 0
