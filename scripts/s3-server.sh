#!/usr/bin/env bash
# Runs the S3-compatible server the tests use (versitygw, installed into
# bin/tools by scripts/test-deps.sh) on a free loopback port.
#
#   scripts/s3-server.sh start [STATE]   start it; write its settings to STATE/env
#   scripts/s3-server.sh stop [STATE]    stop it and remove STATE (its data too)
#
# STATE is a directory (default bin/s3-test); `make test` uses a fresh one per
# run so runs in one checkout do not stop each other's server. STATE/env
# holds shell assignments for the tests:
#   STRATA_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   STRATA_TEST_S3_ACCESS, STRATA_TEST_S3_SECRET, STRATA_TEST_S3_BUCKET
# The tests create the bucket if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

state="${2:-bin/s3-test}"
bin=bin/tools/versitygw
access=strataaccess
secret=stratasecret
bucket=strata-test

stop() {
  if [ -f "$state/pid" ]; then
    pid=$(cat "$state/pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
  fi
  rm -rf "$state"
}

start() {
  if [ ! -x "$bin" ]; then
    echo "s3-server: $bin missing; run: make test-deps" >&2
    exit 1
  fi
  stop
  mkdir -p "$state/data"
  for _ in $(seq 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    # A port something already answers on is taken.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    ROOT_ACCESS_KEY=$access ROOT_SECRET_KEY=$secret \
      "$bin" --port "127.0.0.1:$port" posix "$state/data" >"$state/log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"
    for _ in $(seq 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        cat >"$state/env" <<ENV
STRATA_TEST_S3_ENDPOINT=http://127.0.0.1:$port
STRATA_TEST_S3_ACCESS=$access
STRATA_TEST_S3_SECRET=$secret
STRATA_TEST_S3_BUCKET=$bucket
ENV
        echo "s3-server: versitygw on 127.0.0.1:$port (pid $pid, settings in $state/env)"
        return 0
      fi
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "s3-server: versitygw did not start; log:" >&2
  cat "$state/log" >&2 || true
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
