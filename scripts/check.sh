#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (root) and runs every check:
# ruff, mypy --strict, and pytest against real mosquitto, InfluxDB 1.6.7 and PostgreSQL servers, and
# the web console in Debian's headless Chromium (driven by Playwright; fonts for the Chinese pages).
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy (strict)"
mypy
echo "== pytest"
set +e
# Every suite runs, the live ones included (a whole simulated day at x60, 25 min; two instances
# running the scenario library together, ~5 min): they run in lock-step time, so this VM's pauses
# cannot fail them. `pytest -m "not live"` leaves them out locally.
python3 -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
