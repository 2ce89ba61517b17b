package ops

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/duckdb"
)

const grafanaDir = "../../../deploy/grafana"

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
		} `json:"datasource"`
		Targets []struct {
			Expr   string `json:"expr"`
			RawSQL string `json:"rawSql"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T, name string) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(grafanaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: no title or uid", name)
	}
	return d
}

var metricRE = regexp.MustCompile(`\b(?:vigil|process|go)_[a-z0-9_]+\b`)

// TestMetricsDashboard checks that every metric the dashboard queries is
// one the registry exposes.
func TestMetricsDashboard(t *testing.T) {
	d := readDashboard(t, "vigil-metrics.json")
	names := New().Names()
	queried := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricRE.FindAllString(tg.Expr, -1) {
				queried++
				base := m
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suf); ok && slices.Contains(names, b) {
						base = b
					}
				}
				if !slices.Contains(names, base) {
					t.Errorf("panel %q queries %s, which vigil does not expose", p.Title, m)
				}
			}
		}
	}
	if queried == 0 {
		t.Fatal("no metric queried")
	}
}

var (
	fromRE       = regexp.MustCompile(`(?i)\bFROM\s+([a-z_]+)`)
	timeFilterRE = regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)
)

// TestClickHouseDashboard checks that the ClickHouse panels read vigil's
// tables and filter time on their columns (the column lists are read from
// a DuckDB store, which has the same tables).
func TestClickHouseDashboard(t *testing.T) {
	d := readDashboard(t, "vigil-clickhouse.json")
	st, err := duckdb.Open(context.Background(), duckdb.Config{Path: filepath.Join(t.TempDir(), "v.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	columns := map[string][]string{}
	for _, table := range []string{storage.EventsTable, storage.AlertsTable, storage.DeliveriesTable} {
		res, err := st.Query(context.Background(), "SELECT * FROM "+table+" LIMIT 0")
		if err != nil {
			t.Fatal(err)
		}
		columns[table] = res.Columns
	}
	for _, p := range d.Panels {
		if p.Datasource.Type != "grafana-clickhouse-datasource" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", p.Title, p.Datasource.Type, len(p.Targets))
		}
		for _, tg := range p.Targets {
			var cols []string
			for _, m := range fromRE.FindAllStringSubmatch(tg.RawSQL, -1) {
				c, ok := columns[m[1]]
				if !ok {
					t.Errorf("panel %q reads table %q, not one of vigil's", p.Title, m[1])
				}
				cols = append(cols, c...)
			}
			for _, m := range timeFilterRE.FindAllStringSubmatch(tg.RawSQL, -1) {
				if !slices.Contains(cols, m[1]) {
					t.Errorf("panel %q filters time on %q, not a column of its tables", p.Title, m[1])
				}
			}
		}
	}
}
