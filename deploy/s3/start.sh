#!/usr/bin/env bash
# Starts a throwaway S3 server for vigil's integration tests: the Versity S3
# Gateway (github.com/versity/versitygw v1.8.0, Apache-2.0) with its posix
# backend on a temporary directory, listening on loopback.
#
# Installs versitygw once into a cache directory (the first build takes a
# couple of minutes), starts it, waits until it answers and prints the lines
# to eval:
#   export VIGIL_S3_ENDPOINT=http://127.0.0.1:17070
#   export VIGIL_S3_ACCESS_KEY=vigil-test VIGIL_S3_SECRET_KEY=vigil-test-secret
# The keys are fixed test-only values of this throwaway server. Stop it with
# stop.sh (same VIGIL_S3_PORT).
#
# Environment:
#   VIGIL_S3_PORT    port (default 17070)
#   VIGIL_TOOLS_DIR  where tools are installed (default $(go env GOPATH)/vigil-tools)
#   TMPDIR           where the data directory is made (default /tmp)
set -euo pipefail

port="${VIGIL_S3_PORT:-17070}"
tools="${VIGIL_TOOLS_DIR:-$(go env GOPATH)/vigil-tools}"
state="${TMPDIR:-/tmp}/vigil-s3-${port}.dir"
endpoint="http://127.0.0.1:${port}"
version=v1.8.0
access=vigil-test
secret=vigil-test-secret

log() { echo "s3: $*" >&2; }

print_env() {
	echo "export VIGIL_S3_ENDPOINT=$endpoint"
	echo "export VIGIL_S3_ACCESS_KEY=$access VIGIL_S3_SECRET_KEY=$secret"
}

answers() {
	# Any HTTP reply (403 for the unsigned probe) means the gateway is up.
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' "$endpoint/" 2>/dev/null) || true
	[ -n "$code" ] && [ "$code" != 000 ]
}

vgw="$tools/versitygw-$version/versitygw"
if [ ! -x "$vgw" ]; then
	log "installing versitygw $version into $tools (once; takes a few minutes)"
	mkdir -p "$tools/versitygw-$version"
	GOBIN="$tools/versitygw-$version" GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
fi

if answers; then
	log "a server already answers on $endpoint; reusing it"
	print_env
	exit 0
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/vigil-s3.XXXXXX")"
mkdir -p "$dir/root"
log "starting versitygw on $endpoint, data in $dir"
ROOT_ACCESS_KEY_ID="$access" ROOT_SECRET_ACCESS_KEY="$secret" \
	"$vgw" --port "127.0.0.1:${port}" --quiet posix "$dir/root" >"$dir/versitygw.log" 2>&1 &
echo $! >"$dir/versitygw.pid"
echo "$dir" >"$state"

for _ in $(seq 1 100); do
	if answers; then
		log "ready: $endpoint"
		print_env
		exit 0
	fi
	sleep 0.2
done
log "server did not answer within 20s; its log:"
tail -n 20 "$dir/versitygw.log" >&2 || true
exit 1
