package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// serverEnv names the environment variable that points the integration
// tests at a ClickHouse server, as printed by deploy/clickhouse/start.sh.
const serverEnv = "VIGIL_CLICKHOUSE_URL"

// unavailable skips the test, or fails it under CI=true, where the server
// must be there.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "ClickHouse integration test: " + why +
		"; start a server with `export " + serverEnv + "=$(deploy/clickhouse/start.sh)`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// testStore opens a Store on a fresh database of the test server, with a
// fixed clock, and migrates it. The database is dropped when t ends.
func testStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	return testStoreAt(t, cfg, migrations)
}

// testStoreAt is testStore migrated by the steps ms only: a store as an
// older vigil left it.
func testStoreAt(t testing.TB, cfg Config, ms []migration) *Store {
	t.Helper()
	raw := os.Getenv(serverEnv)
	if raw == "" {
		unavailable(t, serverEnv+" is not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", serverEnv, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	db := "vigil_test_" + hex.EncodeToString(b[:])
	u.Path = "/" + db
	cfg.URL = u.String()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		unavailable(t, "cannot reach the server at "+redact(raw)+": "+err.Error())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("dropping %s: %v", db, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	if err := s.migrate(ctx, ms); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// count returns the number of rows of a query's single count column.
func count(t *testing.T, s *Store, sql string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := s.conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// optimizeFinal merges every part of table with OPTIMIZE ... FINAL until
// no two rows share idColumn. An OPTIMIZE that meets a background merge in
// progress returns without merging (the server does not say so unless
// optimize_throw_if_noop is set, which old servers lack), so it is repeated
// a bounded number of times.
func optimizeFinal(t *testing.T, s *Store, table, idColumn string) {
	t.Helper()
	for range 50 {
		if err := s.conn.Exec(t.Context(), "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
		if count(t, s, "SELECT count() FROM "+table) == count(t, s, "SELECT uniqExact("+idColumn+") FROM "+table) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chException is the driver's server error type.
type chException = ch.Exception
