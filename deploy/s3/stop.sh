#!/usr/bin/env bash
# Stops the S3 server started by start.sh (same VIGIL_S3_PORT) and removes
# its data directory. A server start.sh only reused is left alone.
set -euo pipefail
port="${VIGIL_S3_PORT:-17070}"
state="${TMPDIR:-/tmp}/vigil-s3-${port}.dir"
[ -f "$state" ] || exit 0
dir="$(cat "$state")"
if [ -f "$dir/versitygw.pid" ]; then
	kill "$(cat "$dir/versitygw.pid")" 2>/dev/null || true
fi
rm -rf "$dir" "$state"
echo "s3: stopped" >&2
