#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine with Go.
# Debian packages: none are needed yet (the Kafka and MQTT issues add kcat and
# mosquitto-clients here). Go tools are pinned in go.mod with the tool
# directive; `go tool` builds them on first use, so we only warm them here.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

go mod download
go tool staticcheck -version >/dev/null
