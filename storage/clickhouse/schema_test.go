package clickhouse

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestSchemaDDL checks the DDL rendered for servers of several ages
// against golden files: features appear exactly from the version that has
// them.
func TestSchemaDDL(t *testing.T) {
	tests := []struct {
		version   proto.Version
		retention time.Duration
		golden    string
	}{
		{proto.Version{Major: 18, Minor: 16, Patch: 1}, 0, "schema-18.16.sql"},
		{proto.Version{Major: 19, Minor: 6, Patch: 2}, 0, "schema-19.6.sql"},
		{proto.Version{Major: 19, Minor: 17, Patch: 4}, 0, "schema-19.17.sql"},
		{proto.Version{Major: 24, Minor: 8, Patch: 4}, 90 * 24 * time.Hour, "schema-24.8-retention-90d.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			sc := schema{f: featuresOf(tt.version), retention: tt.retention}
			var b strings.Builder
			b.WriteString("-- ClickHouse " + tt.version.String() + "\n")
			b.WriteString(sc.migrationsDDL() + ";\n\n")
			for _, m := range migrations {
				for _, stmt := range m.ddl(sc) {
					b.WriteString(stmt + ";\n\n")
				}
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Fatalf("DDL differs from %s (run go test -update and review the diff):\n%s", path, b.String())
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	tests := []struct {
		v    proto.Version
		want features
	}{
		{proto.Version{Major: 18, Minor: 16, Patch: 1}, features{}},
		{proto.Version{Major: 19, Minor: 3}, features{lowCardinality: true}},
		{proto.Version{Major: 19, Minor: 6}, features{lowCardinality: true, ttl: true}},
		{proto.Version{Major: 19, Minor: 10}, features{lowCardinality: true, ttl: true, codecs: true}},
		{proto.Version{Major: 20, Minor: 3}, features{true, true, true, true}},
		{proto.Version{Major: 25, Minor: 1}, features{true, true, true, true}},
	}
	for _, tt := range tests {
		if got := featuresOf(tt.v); got != tt.want {
			t.Errorf("featuresOf(%v) = %+v, want %+v", tt.v, got, tt.want)
		}
	}
}

func TestRetentionDays(t *testing.T) {
	tests := []struct {
		retention time.Duration
		want      int
	}{
		{time.Hour, 1},
		{24 * time.Hour, 1},
		{25 * time.Hour, 2},
		{90 * 24 * time.Hour, 90},
	}
	for _, tt := range tests {
		if got := (schema{retention: tt.retention}).retentionDays(); got != tt.want {
			t.Errorf("retentionDays(%v) = %d, want %d", tt.retention, got, tt.want)
		}
	}
}

func TestHasTTLDays(t *testing.T) {
	const engine = "ReplacingMergeTree(ingest_time) PARTITION BY toYYYYMM(event_time) " +
		"ORDER BY (log_type, event_time, actor, event_id) TTL event_time + toIntervalDay(90) SETTINGS index_granularity = 8192"
	tests := []struct {
		engine string
		days   int
		want   bool
	}{
		{engine, 90, true},
		{engine, 9, false},
		{engine, 30, false},
		{"ReplacingMergeTree(ingest_time) ORDER BY event_id TTL event_time + INTERVAL 30 DAY", 30, true},
		{"ReplacingMergeTree(ingest_time) ORDER BY event_id", 30, false},
	}
	for _, tt := range tests {
		if got := hasTTLDays(tt.engine, tt.days); got != tt.want {
			t.Errorf("hasTTLDays(%q, %d) = %v, want %v", tt.engine, tt.days, got, tt.want)
		}
	}
}
