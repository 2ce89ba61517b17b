#!/usr/bin/env bash
# Starts a throwaway SQS server for vigil's integration tests: goaws
# (github.com/Admiral-Piett/goaws v0.4.4, an SQS/SNS emulator) served on
# loopback by server/ (beside this script), which also translates the JSON
# protocol of current AWS SDKs for it.
#
# Builds the server (its own Go module; the first build downloads goaws),
# writes the goaws configuration to a temporary directory, starts it, waits
# until it answers and prints the line to eval:
#   export VIGIL_SQS_ENDPOINT=http://127.0.0.1:14101
# Queue URLs are http://127.0.0.1:PORT/100010001000/NAME. Stop it with
# stop.sh (same VIGIL_SQS_PORT).
#
# Environment:
#   VIGIL_SQS_PORT   port (default 14101)
#   TMPDIR           where the temporary directory is made (default /tmp)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

port="${VIGIL_SQS_PORT:-14101}"
state="${TMPDIR:-/tmp}/vigil-sqs-${port}.dir"
endpoint="http://127.0.0.1:${port}"

log() { echo "sqs: $*" >&2; }

answers() {
	# Any SQS reply (200, or 400 for the unknown probe queue) means it is up.
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Amz-Target: AmazonSQS.GetQueueUrl' \
		-H 'Content-Type: application/x-amz-json-1.0' -d '{"QueueName":"vigil-probe"}' "$endpoint/" 2>/dev/null) || true
	[ "$code" = 200 ] || [ "$code" = 400 ]
}

if answers; then
	log "a server already answers on $endpoint; reusing it"
	echo "export VIGIL_SQS_ENDPOINT=$endpoint"
	exit 0
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/vigil-sqs.XXXXXX")"
cat >"$dir/goaws.yaml" <<YAML
Local:
  Host: 127.0.0.1
  Port: ${port}
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
log "building the server (goaws v0.4.4 on loopback)"
(cd "$here/server" && GOFLAGS= go build -o "$dir/server" .) >&2

log "starting on $endpoint, files in $dir"
"$dir/server" -listen "127.0.0.1:${port}" -config "$dir/goaws.yaml" >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"
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
tail -n 20 "$dir/server.log" >&2 || true
exit 1
