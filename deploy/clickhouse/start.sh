#!/usr/bin/env bash
# Starts a throwaway ClickHouse server for vigil's integration tests.
#
# Installs Debian's clickhouse-server and clickhouse-client when missing,
# starts the server on loopback with its data in a temporary directory,
# waits until it answers, and prints its URL on stdout, e.g.
#   clickhouse://127.0.0.1:19000/default
# If a server already answers on the port, it is reused and left alone by
# stop.sh. Stop the server with stop.sh (same VIGIL_CLICKHOUSE_PORT).
#
# Environment:
#   VIGIL_CLICKHOUSE_PORT  native protocol port (default 19000); HTTP uses port-876
#   TMPDIR                 where the data directory is made (default /tmp)
set -euo pipefail

port="${VIGIL_CLICKHOUSE_PORT:-19000}"
http_port=$((port - 876))
state="${TMPDIR:-/tmp}/vigil-clickhouse-${port}.dir"
url="clickhouse://127.0.0.1:${port}/default"

log() { echo "clickhouse: $*" >&2; }

answers() {
	clickhouse-client --host 127.0.0.1 --port "$port" --query 'SELECT 1' >/dev/null 2>&1
}

if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
	log "installing clickhouse-server and clickhouse-client (Debian packages)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# The package's own service is not started (no init system here); we run our own.
	apt-get install -y -qq clickhouse-server clickhouse-client >&2
fi

if answers; then
	log "a server already answers on port $port; reusing it"
	echo "$url"
	exit 0
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/vigil-clickhouse.XXXXXX")"
mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"
cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$port</tcp_port>
    <http_port>$http_port</http_port>
    <max_connections>256</max_connections>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval><duration>3600</duration><queries>0</queries><errors>0</errors>
            <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
        </default>
    </quotas>
</yandex>
XML

log "starting on 127.0.0.1:$port, data in $dir"
clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/server.pid" --daemon >&2
echo "$dir" >"$state"

for _ in $(seq 1 120); do
	if answers; then
		log "ready: $url"
		echo "$url"
		exit 0
	fi
	sleep 0.5
done
log "server did not answer within 60s; its log:"
tail -n 30 "$dir/log/server.err.log" >&2 2>/dev/null || true
exit 1
