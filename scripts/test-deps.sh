#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine with Go.
# Debian packages: kcat (librdkafka's command-line client, which the Kafka
# frontend's tests drive), mosquitto-clients (mosquitto_pub/mosquitto_sub,
# which the MQTT frontend's tests drive) and mosquitto (the broker that
# `strata bench mqtt` measures Strata against). Go
# tools are pinned in go.mod with the tool directive; `go tool` builds them on first use, so we only warm them here.
# Binaries the tests run as servers are installed into bin/tools at pinned
# versions: versitygw, the S3-compatible server the tier tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(kcat mosquitto-clients mosquitto)
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

# versitygw: skip when bin/tools holds the pinned version already.
versitygw_version=v1.8.0
tools="$(pwd)/bin/tools"
if ! go version -m "$tools/versitygw" 2>/dev/null | grep -qE "^[[:space:]]mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$versitygw_version[[:space:]]"; then
  echo "test-deps: installing versitygw $versitygw_version into bin/tools (about 2 minutes cold)"
  GOBIN="$tools" go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
fi

# tools/arrowjs: the npm apache-arrow package that cmd/strata's tests read
# the HTTP dataset stream with (a third-party Arrow reader; Node is on the
# machines). Reinstalled when package-lock.json changes.
arrowjs=tools/arrowjs
if [ ! -d "$arrowjs/node_modules/apache-arrow" ] || [ "$arrowjs/package-lock.json" -nt "$arrowjs/node_modules/.package-lock.json" ]; then
  echo "test-deps: installing $arrowjs (npm ci)"
  npm ci --prefix "$arrowjs" --no-audit --no-fund
fi
