#!/usr/bin/env bash
# Starts a throwaway Prometheus Alertmanager for vigil's notify tests.
#
# Installs Debian's prometheus-alertmanager when missing, starts it on
# loopback with its data in a temporary directory and a minimal
# configuration (one receiver that sends nowhere, clustering off), waits
# until its API answers, and prints its base URL on stdout, e.g.
#   http://127.0.0.1:19093
# Use it as
#   export VIGIL_ALERTMANAGER_URL=$(deploy/alertmanager/start.sh)
# If an Alertmanager already answers on the port it is reused and left
# alone by stop.sh. Stop it with stop.sh (same VIGIL_ALERTMANAGER_PORT).
#
# Environment:
#   VIGIL_ALERTMANAGER_PORT  listen port (default 19093)
#   TMPDIR                   where the data directory is made (default /tmp)
set -euo pipefail

port="${VIGIL_ALERTMANAGER_PORT:-19093}"
state="${TMPDIR:-/tmp}/vigil-alertmanager-${port}.dir"
url="http://127.0.0.1:${port}"

log() { echo "alertmanager: $*" >&2; }

answers() {
	# /-/ready answers 200 once the configuration is loaded.
	curl -fsS -o /dev/null --max-time 2 "$url/-/ready" 2>/dev/null
}

bin=""
find_bin() {
	bin="$(command -v prometheus-alertmanager || command -v alertmanager || true)"
}
find_bin
if [ -z "$bin" ]; then
	log "installing prometheus-alertmanager (Debian package)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show prometheus-alertmanager >/dev/null 2>&1; then
		apt-get update -qq >&2
	fi
	# The package's own service is not started (no init system here); we run our own.
	apt-get install -y -qq prometheus-alertmanager >&2
	find_bin
	[ -n "$bin" ] || { log "prometheus-alertmanager is not on PATH after installing"; exit 1; }
fi
command -v curl >/dev/null || { log "curl is needed to wait for the server"; exit 1; }

if answers; then
	log "an Alertmanager already answers on port $port; reusing it"
	echo "$url"
	exit 0
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/vigil-alertmanager.XXXXXX")"
mkdir -p "$dir/data"
cat >"$dir/alertmanager.yml" <<YAML
# Minimal configuration for tests: every alert goes to a receiver that
# sends nothing; alerts stay visible on GET /api/v2/alerts.
route:
  receiver: blackhole
  group_by: [alertname]
receivers:
  - name: blackhole
YAML

log "starting on 127.0.0.1:$port, data in $dir"
# --cluster.listen-address= turns clustering (gossip on 0.0.0.0:9094) off.
nohup "$bin" \
	--config.file="$dir/alertmanager.yml" \
	--storage.path="$dir/data" \
	--web.listen-address="127.0.0.1:$port" \
	--cluster.listen-address= \
	--log.level=warn \
	>"$dir/server.log" 2>&1 </dev/null &
echo $! >"$dir/server.pid"
echo "$dir" >"$state"

for _ in $(seq 1 60); do
	if answers; then
		log "ready: $url"
		echo "$url"
		exit 0
	fi
	if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
		break
	fi
	sleep 0.5
done
log "server did not answer within 30s; its log:"
tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
exit 1
