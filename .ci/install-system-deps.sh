#!/usr/bin/env bash
# Install the Debian packages the platform needs, only those that are missing (idempotent).
set -euo pipefail

# PostGIS must match the PostgreSQL major that is installed; 15 is Debian 12's.
major=""
if ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  major=$(ls -d /usr/lib/postgresql/*/bin/initdb | sed -E 's#/usr/lib/postgresql/([0-9]+)/.*#\1#' | sort -n | tail -1)
fi
major=${major:-15}

# chromium: the web map's browser tests (Playwright drives Debian's build; no browser download).
wanted=("postgresql-${major}" "postgresql-${major}-postgis-3" "postgresql-contrib" "gdal-bin" "chromium" "wrk" "redis-server")
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# node and npm build the web map's assets (MapLibre GL JS) and run the style validator
command -v npm >/dev/null 2>&1 || missing+=("nodejs" "npm")
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
