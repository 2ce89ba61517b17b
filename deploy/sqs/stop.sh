#!/usr/bin/env bash
# Stops the SQS server started by start.sh (same VIGIL_SQS_PORT) and removes
# its temporary directory. A server start.sh only reused is left alone.
set -euo pipefail
port="${VIGIL_SQS_PORT:-14101}"
state="${TMPDIR:-/tmp}/vigil-sqs-${port}.dir"
[ -f "$state" ] || exit 0
dir="$(cat "$state")"
for name in server; do
	if [ -f "$dir/$name.pid" ]; then
		kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
	fi
done
rm -rf "$dir" "$state"
echo "sqs: stopped" >&2
