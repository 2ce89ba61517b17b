package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/storage"
)

// demoStore runs the demo into a new DuckDB file and returns its URL.
func demoStore(t *testing.T) string {
	t.Helper()
	url := "duckdb://" + filepath.Join(t.TempDir(), "vigil.duckdb")
	if code, _, errw := vigil(t, "", "run", "--demo", "--format", "none", "--store", url); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errw)
	}
	return url
}

func TestQuery(t *testing.T) {
	url := demoStore(t)
	const sql = "SELECT severity, count(*) AS n FROM alerts WHERE severity IN ('critical', 'high') GROUP BY severity ORDER BY severity"
	code, out, errw := vigil(t, "", "query", "--store", url, sql)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errw)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "severity  n") ||
		!strings.HasPrefix(lines[1], "critical  ") || !strings.HasPrefix(lines[2], "high      ") || lines[3] != "(2 rows)" {
		t.Errorf("table:\n%s", out)
	}

	code, out, errw = vigil(t, "", "query", "--store", url, "--format", "json",
		"SELECT alert_id, tags, first_time FROM alerts ORDER BY first_time LIMIT 3")
	if code != 0 {
		t.Fatalf("json: exit %d\n%s", code, errw)
	}
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("json: want 3 lines:\n%s", out)
	}
	for _, l := range lines {
		var row struct {
			AlertID   string    `json:"alert_id"`
			Tags      []string  `json:"tags"`
			FirstTime time.Time `json:"first_time"`
		}
		if err := json.Unmarshal([]byte(l), &row); err != nil || row.AlertID == "" || len(row.Tags) == 0 || row.FirstTime.IsZero() {
			t.Errorf("json row %s: %+v, %v", l, row, err)
		}
		if !strings.HasPrefix(l, `{"alert_id":`) {
			t.Errorf("json keys not in column order: %s", l)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	url := demoStore(t)
	missing := "duckdb://" + filepath.Join(t.TempDir(), "none.duckdb")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"write", []string{"--store", url, "DELETE FROM alerts"}, "SELECT"},
		{"two statements", []string{"--store", url, "SELECT 1; DROP TABLE alerts"}, "SELECT"},
		{"bad SQL", []string{"--store", url, "SELECT nope FROM alerts"}, "nope"},
		{"missing store", []string{"--store", missing, "SELECT 1"}, "no store"},
		{"no SQL", []string{"--store", url}, "usage: vigil query"},
		{"format", []string{"--format", "csv", "SELECT 1"}, "--format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errw := vigil(t, "", append([]string{"query"}, tt.args...)...)
			if code != 2 || !strings.Contains(errw, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errw, tt.want)
			}
		})
	}
	code, out, _ := vigil(t, "", "query", "--store", url, "SELECT count(*) FROM alerts WHERE true")
	if code != 0 || strings.HasPrefix(strings.Split(out, "\n")[1], "0") {
		t.Errorf("alerts gone after rejected writes: exit %d\n%s", code, out)
	}
}

func TestPrintTable(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		res  storage.Result
		want string
	}{
		{"empty", storage.Result{Columns: []string{"a"}}, "a\n(0 rows)\n"},
		{"values", storage.Result{Columns: []string{"s", "n", "t", "list", "null"},
			Rows: [][]any{{"x", int64(42), t0, []any{"a", "b"}, nil}, {"line\nbreak", 1.5, t0.In(time.FixedZone("X", 3600)), []any{}, []byte("raw")}}},
			"s           n    t                     list       null\n" +
				"x           42   2026-03-14T09:30:00Z  [\"a\",\"b\"]  NULL\n" +
				"line break  1.5  2026-03-14T09:30:00Z  []         raw\n" +
				"(2 rows)\n"},
		{"terminal controls", storage.Result{Columns: []string{"s"}, Rows: [][]any{{"a\x1b[31mred\u009b2J\u202eb"}}},
			"s\na [31mred 2Jb\n(1 row)\n"},
		{"long cell", storage.Result{Columns: []string{"raw"}, Rows: [][]any{{strings.Repeat("é", 100)}}},
			"raw\n" + strings.Repeat("é", maxCell-1) + "…\n(1 row)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := printTable(&b, &tt.res); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
