#!/usr/bin/env bash
# Starts a throwaway SQS server for vigil's integration tests: goaws
# (github.com/Admiral-Piett/goaws v0.4.4, an SQS/SNS emulator) with a
# JSON-protocol front (jsonproxy, beside this script) so that the current
# AWS SDK can talk to it.
#
# Installs goaws once into a cache directory, writes its configuration to a
# temporary directory, starts it and the proxy, waits until they answer and
# prints the lines to eval:
#   export VIGIL_SQS_ENDPOINT=http://127.0.0.1:14101
# Stop both with stop.sh (same VIGIL_SQS_PORT).
#
# goaws v0.4.4 always listens on all interfaces (0.0.0.0) on its port; the
# proxy, which clients use, listens on loopback only.
#
# Environment:
#   VIGIL_SQS_PORT   the proxy's port (default 14101); goaws uses port-1
#   VIGIL_TOOLS_DIR  where tools are installed (default $(go env GOPATH)/vigil-tools)
#   TMPDIR           where the temporary directory is made (default /tmp)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

port="${VIGIL_SQS_PORT:-14101}"
upstream_port=$((port - 1))
tools="${VIGIL_TOOLS_DIR:-$(go env GOPATH)/vigil-tools}"
state="${TMPDIR:-/tmp}/vigil-sqs-${port}.dir"
endpoint="http://127.0.0.1:${port}"
version=v0.4.4

log() { echo "sqs: $*" >&2; }

answers() {
	# Any SQS reply (200, or 400 for the unknown probe queue) means it is up.
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Amz-Target: AmazonSQS.GetQueueUrl' \
		-H 'Content-Type: application/x-amz-json-1.0' -d '{"QueueName":"vigil-probe"}' "$endpoint/" 2>/dev/null) || true
	[ "$code" = 200 ] || [ "$code" = 400 ]
}

goaws="$tools/goaws-$version/cmd"
if [ ! -x "$goaws" ]; then
	log "installing goaws $version into $tools (once)"
	mkdir -p "$tools/goaws-$version"
	GOBIN="$tools/goaws-$version" GOFLAGS= go install "github.com/Admiral-Piett/goaws/app/cmd@$version" >&2
fi

if answers; then
	log "a server already answers on $endpoint; reusing it"
	echo "export VIGIL_SQS_ENDPOINT=$endpoint"
	exit 0
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/vigil-sqs.XXXXXX")"
cat >"$dir/goaws.yaml" <<YAML
Local:
  Host: 127.0.0.1
  Port: ${upstream_port}
  Region: us-east-1
  AccountId: "100010001000"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
YAML
(cd "$here/jsonproxy" && go build -o "$dir/jsonproxy" .) >&2

log "starting goaws on port $upstream_port and the proxy on $endpoint, files in $dir"
"$goaws" -config "$dir/goaws.yaml" Local >"$dir/goaws.log" 2>&1 &
echo $! >"$dir/goaws.pid"
"$dir/jsonproxy" -listen "127.0.0.1:${port}" -upstream "http://127.0.0.1:${upstream_port}" >"$dir/jsonproxy.log" 2>&1 &
echo $! >"$dir/jsonproxy.pid"
echo "$dir" >"$state"

for _ in $(seq 1 100); do
	if answers; then
		log "ready: $endpoint"
		echo "export VIGIL_SQS_ENDPOINT=$endpoint"
		exit 0
	fi
	sleep 0.2
done
log "server did not answer within 20s; its logs:"
tail -n 20 "$dir/goaws.log" "$dir/jsonproxy.log" >&2 || true
exit 1
