#!/usr/bin/env bash
# Stops the Alertmanager that start.sh started on VIGIL_ALERTMANAGER_PORT
# (default 19093) and removes its data directory. A server that start.sh
# found already running is left alone.
set -euo pipefail

port="${VIGIL_ALERTMANAGER_PORT:-19093}"
state="${TMPDIR:-/tmp}/vigil-alertmanager-${port}.dir"

[ -f "$state" ] || exit 0
dir="$(cat "$state")"
if [ -f "$dir/server.pid" ]; then
	pid="$(cat "$dir/server.pid")"
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 40); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
fi
case "$dir" in
"${TMPDIR:-/tmp}"/vigil-alertmanager.*) rm -rf "$dir" ;;
esac
rm -f "$state"
echo "alertmanager: stopped (port $port)" >&2
