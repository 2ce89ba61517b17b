#!/usr/bin/env bash
# Stops the ClickHouse server that start.sh started on VIGIL_CLICKHOUSE_PORT
# (default 19000) and removes its data directory. A server that start.sh
# found already running is left alone.
set -euo pipefail

port="${VIGIL_CLICKHOUSE_PORT:-19000}"
state="${TMPDIR:-/tmp}/vigil-clickhouse-${port}.dir"

[ -f "$state" ] || exit 0
dir="$(cat "$state")"
if [ -f "$dir/server.pid" ]; then
	pid="$(cat "$dir/server.pid")"
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
fi
case "$dir" in
"${TMPDIR:-/tmp}"/vigil-clickhouse.*) rm -rf "$dir" ;;
esac
rm -f "$state"
echo "clickhouse: stopped (port $port)" >&2
