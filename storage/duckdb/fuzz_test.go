package duckdb

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/ingest"
)

// FuzzQueryReadOnly runs arbitrary SQL through Query: whatever it is, the
// store's tables and rows stay as they were.
func FuzzQueryReadOnly(f *testing.F) {
	for _, q := range []string{
		"SELECT * FROM events",
		"DELETE FROM events",
		"SELECT 1; DELETE FROM events",
		"ROLLBACK; DROP TABLE events; SELECT 1",
		"COMMIT; TRUNCATE events",
		"CREATE TABLE x AS SELECT 1",
		"ALTER TABLE events RENAME TO e2",
		"INSERT INTO alerts SELECT * FROM alerts",
		"SELECT * FROM query('DELETE FROM events')",
		"EXPLAIN ANALYZE DELETE FROM events",
		"CALL checkpoint()",
		"DETACH DATABASE memory",
		"USE temp; DROP TABLE events_stage",
		"PREPARE p AS DELETE FROM events",
		"EXECUTE p",
	} {
		f.Add(q)
	}
	s := open(f, Config{})
	ctx := context.Background()
	if err := s.InsertEvents(ctx, []*ingest.Event{event("a"), event("b")}); err != nil {
		f.Fatal(err)
	}
	state := func() string {
		res, err := s.db.QueryContext(ctx, `SELECT (SELECT count(*) FROM events), (SELECT string_agg(table_name, ',' ORDER BY table_name) FROM duckdb_tables())`)
		if err != nil {
			f.Fatal(err)
		}
		defer res.Close()
		var n int
		var tables string
		for res.Next() {
			if err := res.Scan(&n, &tables); err != nil {
				f.Fatal(err)
			}
		}
		return fmt.Sprint(n, tables)
	}
	before := state()
	f.Fuzz(func(t *testing.T, q string) {
		s.Query(ctx, q)
		if after := state(); after != before {
			t.Fatalf("%q changed the store: %s → %s", q, before, after)
		}
	})
}
