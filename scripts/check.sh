#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (root) and runs every check:
# ruff, mypy --strict, and pytest against real mosquitto, InfluxDB 1.6.7 and PostgreSQL servers, and
# the web console in Debian's headless Chromium (driven by Playwright; fonts for the Chinese pages).
set -euo pipefail
cd "$(dirname "$0")/.."
check_started=$(date +%s)

debian_packages=(mosquitto influxdb postgresql chromium fonts-wqy-zenhei)
missing=()
for pkg in "${debian_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "== installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== installing Python packages"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
installed=$(date +%s)
echo "== installs took $(( installed - check_started )) s"

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy (strict)"
mypy
echo "== pytest"
set +e
# Every suite runs, the simulated day and the two instances included: lock-step runs go as fast as
# the gateway settles (no pacing), so their outcome cannot depend on this VM's speed.
started=$(date +%s)
python3 -m pytest -p no:cacheprovider --durations=15 "$@"
status=$?
set -e
finished=$(date +%s)
echo "== pytest took $(( finished - started )) s; the checks after the installs $(( finished - installed )) s; all $(( finished - check_started )) s"
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
