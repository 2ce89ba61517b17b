package clickhouse

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/detect/notify"
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
	// The critical alert's webhook failed twice; the others were
	// delivered. The rows are written as the notifier writes them.
	for _, a := range []notify.Attempt{
		{AlertID: alerts[3].AlertID, Destination: "webhook:oncall", Attempt: 1, Status: notify.StatusFailed, Error: "503 Service Unavailable", AttemptedAt: at("09:19:41")},
		{AlertID: alerts[3].AlertID, Destination: "webhook:oncall", Attempt: 2, Status: notify.StatusFailed, Error: "context deadline exceeded", AttemptedAt: at("09:19:43")},
		{AlertID: alerts[1].AlertID, Destination: "webhook:oncall", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: at("09:13:28")},
	} {
		if err := s.Record(ctx, a); err != nil {
			t.Fatal(err)
		}
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
