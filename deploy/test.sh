#!/usr/bin/env bash
# Runs vigil's tests: static checks, the unit and integration tests, and a
# brief run of every fuzz target. This is the README's test command and what
# .ci/run calls. Services that integration tests need are installed and
# started by scripts beside this one.
set -euo pipefail
cd "$(dirname "$0")/.."

# A count, not a duration: a duration-based -fuzztime can fail with a bare
# "context deadline exceeded" when it expires (go.dev/issue/75804, unfixed in
# Go 1.26); a count has no deadline to race.
fuzztime="${FUZZTIME:-20000x}"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go build"
go build ./...

echo "== tools for the deployment-file tests"
# docker-compose validates deploy/docker-compose.yml (docker-compose config).
if ! command -v docker-compose >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1; } ||
		echo "docker-compose could not be installed; its test will say so"
fi

echo "== services for the integration tests"
# Each script installs its server when missing, starts it on loopback with
# data in a temporary directory, and prints its address.
stop_services() {
	bash deploy/sqs/stop.sh >/dev/null 2>&1 || true
	bash deploy/s3/stop.sh >/dev/null 2>&1 || true
	bash deploy/alertmanager/stop.sh >/dev/null 2>&1 || true
	bash deploy/clickhouse/stop.sh >/dev/null 2>&1 || true
}
trap stop_services EXIT
VIGIL_CLICKHOUSE_URL="$(bash deploy/clickhouse/start.sh)"
VIGIL_ALERTMANAGER_URL="$(bash deploy/alertmanager/start.sh)"
export VIGIL_CLICKHOUSE_URL VIGIL_ALERTMANAGER_URL
# The S3 (versitygw) and SQS (goaws) scripts print export lines.
eval "$(bash deploy/s3/start.sh)"
eval "$(bash deploy/sqs/start.sh)"

echo "== go test"
go test -count=1 ./...

echo "== vigil test (built-in rule pack)"
go run ./cmd/vigil test

echo "== fuzz (each target ${fuzztime})"
# Every Fuzz* function in the module, run briefly, one at a time.
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r file; do
	pkg="./$(dirname "${file#./}")"
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //' | while read -r fn; do
		echo "-- $pkg $fn"
		go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" "$pkg"
	done
done
echo "== all tests passed"
