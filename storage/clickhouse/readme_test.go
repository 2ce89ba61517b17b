package clickhouse

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// sqlBlocks returns the fenced SQL blocks of a Markdown text, each with
// the nearest ### heading above it.
func sqlBlocks(md string) (titles, blocks []string) {
	var title string
	var block *strings.Builder
	for line := range strings.Lines(md) {
		switch {
		case block != nil && strings.HasPrefix(line, "```"):
			titles, blocks = append(titles, title), append(blocks, block.String())
			block = nil
		case block != nil:
			block.WriteString(line)
		case strings.HasPrefix(line, "```sql"):
			block = &strings.Builder{}
		case strings.HasPrefix(line, "### "):
			title = strings.TrimSpace(strings.TrimPrefix(line, "### "))
		}
	}
	return titles, blocks
}

func TestSQLBlocks(t *testing.T) {
	md := "# t\n### one\ntext\n```sql\nSELECT 1\nFROM x\n```\n```sh\nls\n```\n### two\n```sql\nSELECT 2\n```\n"
	titles, blocks := sqlBlocks(md)
	if want := []string{"one", "two"}; !slices.Equal(titles, want) {
		t.Errorf("titles = %q, want %q", titles, want)
	}
	if want := []string{"SELECT 1\nFROM x\n", "SELECT 2\n"}; !slices.Equal(blocks, want) {
		t.Errorf("blocks = %q, want %q", blocks, want)
	}
}

// TestReadmeQueries runs every query of README.md against the real server
// loaded with the fixture story, and wants rows from each.
func TestReadmeQueries(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	titles, blocks := sqlBlocks(string(readme))
	if len(blocks) < 10 {
		t.Fatalf("README.md has %d SQL blocks, want at least 10", len(blocks))
	}
	s := testStore(t, Config{})
	ctx := t.Context()
	if err := s.InsertEvents(ctx, demoEvents()); err != nil {
		t.Fatal(err)
	}
	alerts := demoAlerts()
	if err := s.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	// The critical alert's webhook failed twice; the others were delivered.
	d := struct {
		ids, dests, statuses, errs []string
		attempts                   []uint32
		times                      []time.Time
	}{}
	add := func(id, dest, status, msg string, attempt uint32, hhmmss string) {
		d.ids, d.dests, d.statuses, d.errs = append(d.ids, id), append(d.dests, dest), append(d.statuses, status), append(d.errs, msg)
		d.attempts, d.times = append(d.attempts, attempt), append(d.times, at(hhmmss))
	}
	add(alerts[3].AlertID, "webhook:oncall", "failed", "503 Service Unavailable", 1, "09:19:41")
	add(alerts[3].AlertID, "webhook:oncall", "failed", "context deadline exceeded", 2, "09:19:43")
	add(alerts[1].AlertID, "webhook:oncall", "delivered", "", 1, "09:13:28")
	err = s.send(ctx, "INSERT INTO alert_deliveries (alert_id, destination, attempt, status, error, attempted_at)",
		d.ids, d.dests, d.attempts, d.statuses, d.errs, d.times)
	if err != nil {
		t.Fatal(err)
	}
	for i, sql := range blocks {
		t.Run(titles[i], func(t *testing.T) {
			res, err := s.Query(ctx, sql)
			if err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
			if len(res.Rows) == 0 {
				t.Fatalf("no rows from the fixture story:\n%s", sql)
			}
			t.Logf("%d rows, first %v", len(res.Rows), res.Rows[0])
		})
	}
}
