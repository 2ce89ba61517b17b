package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
)

// DefaultPath is the default of Config.Path.
const DefaultPath = "./vigil-data/vigil.duckdb"

// Errors of the store.
var (
	// ErrNotReadOnly is returned by Query for anything but one SELECT
	// statement.
	ErrNotReadOnly = errors.New("only a single SELECT statement may be run")
	// ErrLocked is returned by Open when another process has the file open
	// for writing (such as a running `vigil run`): DuckDB allows one.
	ErrLocked = errors.New("the store is in use by another process")
)

// Config configures a Store. The zero value is valid.
type Config struct {
	// Path is the database file; its directory is created when the store
	// is opened for writing. Default ./vigil-data/vigil.duckdb.
	Path string
	// ReadOnly opens an existing store for queries only, in DuckDB's
	// read-only mode and without access to other files. A read-only store
	// can be opened while no process writes it (DuckDB locks the file).
	// Default false: the schema is created or upgraded and the store is
	// writable.
	ReadOnly bool
	// Now returns the time recorded as ingest_time and created_time.
	// Default time.Now.
	Now func() time.Time
}

func (c Config) path() string {
	if c.Path != "" {
		return c.Path
	}
	return DefaultPath
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if strings.ContainsRune(c.path(), '?') {
		return fmt.Errorf("duckdb: path %q must not contain '?'", c.path())
	}
	return nil
}

// Store is vigil's embedded store: the tables of the ClickHouse store in a
// DuckDB file. Inserts are upserts on the stable IDs, so writing an event
// or an alert again leaves one row: a replayed event replaces its row but
// keeps its first ingest_time; an alert row is replaced by a version with
// a count at least as large, and keeps its created_time. Its methods are
// safe for concurrent use; writes are serialized on one connection.
type Store struct {
	cfg Config
	db  *sql.DB

	mu sync.Mutex // guards w, the writing connection with the staging tables
	w  *sql.Conn
}

var (
	_ storage.Sink    = (*Store)(nil)
	_ storage.Querier = (*Store)(nil)
)

// Open opens the store at c.Path. A writable store is created if missing
// and its schema brought to SchemaVersion(); a read-only store must exist
// and carry a schema this package knows.
func Open(ctx context.Context, c Config) (*Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	path := c.path()
	dsn := path
	if c.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("duckdb: no store at %s: %w", path, err)
		}
		dsn += "?access_mode=READ_ONLY&enable_external_access=false"
	} else if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("duckdb: %w", err)
		}
	}
	conn, err := duckdb.NewConnector(dsn, utc)
	if err != nil {
		if strings.Contains(err.Error(), "Conflicting lock") {
			err = fmt.Errorf("%w: %w", ErrLocked, err)
		}
		return nil, fmt.Errorf("duckdb: opening %s: %w", path, err)
	}
	s := &Store{cfg: c, db: sql.OpenDB(conn)}
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("duckdb: %s: %w", path, err)
	}
	return s, nil
}

// utc sets a new connection's time zone to UTC, so that times are shown,
// truncated and formatted in UTC whatever the local time zone, as in
// ClickHouse columns declared with 'UTC'.
func utc(c driver.ExecerContext) error {
	_, err := c.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
	return err
}

// init checks or creates the schema and, for writing, prepares the staging
// tables of the writing connection.
func (s *Store) init(ctx context.Context) error {
	if s.cfg.ReadOnly {
		v, err := schemaVersion(ctx, s.db)
		switch {
		case err != nil:
			return err
		case v == 0:
			return errors.New("not a vigil store (no schema version)")
		case v > SchemaVersion():
			return fmt.Errorf("store has schema version %d, newer than this vigil's %d", v, SchemaVersion())
		}
		return nil
	}
	if err := migrate(ctx, s.db, s.cfg.now()); err != nil {
		return err
	}
	w, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	s.w = w
	for _, t := range []string{storage.EventsTable, storage.AlertsTable} {
		// Staging tables live in this connection only and hold one batch.
		if _, err := w.ExecContext(ctx, `CREATE TEMP TABLE `+t+`_stage AS SELECT * FROM `+t+` LIMIT 0`); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the store. It waits for a write in progress.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// upsertEvents moves the staged events into events. A replayed event
// replaces its row and keeps the first ingest_time.
const upsertEvents = `INSERT INTO events SELECT * FROM temp.events_stage
ON CONFLICT (event_id) DO UPDATE SET
	event_time = excluded.event_time, log_type = excluded.log_type, source = excluded.source,
	account = excluded.account, region = excluded.region, actor = excluded.actor,
	action = excluded.action, target = excluded.target, src_ip = excluded.src_ip,
	dst_ip = excluded.dst_ip, src_port = excluded.src_port, dst_port = excluded.dst_port,
	protocol = excluded.protocol, outcome = excluded.outcome, user_agent = excluded.user_agent,
	raw = excluded.raw`

// upsertAlerts moves the staged alerts into alerts. The version with the
// larger count wins, the later one on a tie; created_time is kept.
const upsertAlerts = `INSERT INTO alerts SELECT * FROM temp.alerts_stage
ON CONFLICT (alert_id) DO UPDATE SET
	rule_id = excluded.rule_id, title = excluded.title, severity = excluded.severity,
	summary = excluded.summary, group_key = excluded.group_key,
	first_time = excluded.first_time, last_time = excluded.last_time, count = excluded.count,
	event_ids = excluded.event_ids, tags = excluded.tags, rule_version = excluded.rule_version,
	log_type = excluded.log_type, mode = excluded.mode
WHERE excluded.count >= alerts.count`

// InsertEvents upserts evs by event ID. Text that is not valid UTF-8 is
// stored with the bad bytes replaced by U+FFFD. Errors that writing the
// same rows again cannot fix are marked batch.Permanent.
func (s *Store) InsertEvents(ctx context.Context, evs []*ingest.Event) error {
	rows := dedup(evs, func(e *ingest.Event) string { return e.ID }, func(old, e *ingest.Event) bool { return true })
	now := s.cfg.now().UTC()
	return s.write(ctx, storage.EventsTable, upsertEvents, len(rows), func(a *duckdb.Appender) error {
		for _, e := range rows {
			n := &e.Norm
			err := a.AppendRow(text(e.ID), e.Time.UTC(), now, text(e.Type), text(e.Source),
				text(n.Account), text(n.Region), text(n.Actor), text(n.Action), text(n.Target),
				text(n.SrcIP), text(n.DstIP), int32(n.SrcPort), int32(n.DstPort),
				text(n.Protocol), text(n.Outcome), text(n.UserAgent), text(string(e.Raw)))
			if err != nil {
				return fmt.Errorf("event %s: %w", e.ID, err)
			}
		}
		return nil
	})
}

// InsertAlerts upserts alerts by alert ID; of two versions of an alert the
// one with the larger count wins. Errors that writing the same rows again
// cannot fix are marked batch.Permanent.
func (s *Store) InsertAlerts(ctx context.Context, alerts []*detect.Alert) error {
	rows := dedup(alerts, func(a *detect.Alert) string { return a.AlertID },
		func(old, a *detect.Alert) bool { return a.Count >= old.Count })
	now := s.cfg.now().UTC()
	return s.write(ctx, storage.AlertsTable, upsertAlerts, len(rows), func(ap *duckdb.Appender) error {
		for _, a := range rows {
			err := ap.AppendRow(text(a.AlertID), text(a.RuleID), text(a.Title), text(a.Severity),
				text(a.Summary), text(a.GroupKey), a.FirstTime.UTC(), a.LastTime.UTC(), int64(a.Count),
				texts(a.EventIDs), texts(a.Tags), int32(a.RuleVersion), text(a.LogType), now, text(a.StoredMode()))
			if err != nil {
				return fmt.Errorf("alert %s: %w", a.AlertID, err)
			}
		}
		return nil
	})
}

// write stages rows through an appender on the writing connection and
// upserts them into table with one statement, so a batch lands whole or
// not at all.
func (s *Store) write(ctx context.Context, table, upsert string, n int, appendRows func(*duckdb.Appender) error) error {
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return errors.New("duckdb: store closed")
	}
	stage := table + "_stage"
	err := s.w.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", stage)
		if err != nil {
			return err
		}
		err = appendRows(a)
		return errors.Join(err, a.Close())
	})
	if err == nil {
		_, err = s.w.ExecContext(ctx, upsert)
	}
	_, errClear := s.w.ExecContext(context.WithoutCancel(ctx), `DELETE FROM temp.`+stage)
	if err != nil {
		return fmt.Errorf("duckdb: writing %s: %w", table, classify(err))
	}
	if errClear != nil {
		return fmt.Errorf("duckdb: clearing %s: %w", stage, errClear)
	}
	return nil
}

// classify marks the errors that retrying the same rows cannot fix.
func classify(err error) error {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return err
	}
	switch de.Type {
	case duckdb.ErrorTypeConversion, duckdb.ErrorTypeConstraint, duckdb.ErrorTypeInvalidInput,
		duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeInvalidType:
		return batch.Permanent(err)
	}
	return err
}

// dedup returns rows with one row per ID, in first-seen order; replace
// tells whether a later row with the same ID replaces the kept one.
// DuckDB's ON CONFLICT cannot update one row twice in one statement.
func dedup[T any](rows []T, id func(T) string, replace func(old, new T) bool) []T {
	idx := make(map[string]int, len(rows))
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		k := id(r)
		if i, ok := idx[k]; ok {
			if replace(out[i], r) {
				out[i] = r
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}

// text returns s as valid UTF-8, which DuckDB's VARCHAR requires.
func text(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// texts returns ss as valid UTF-8 strings, never nil.
func texts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return out
}

// Query runs one read-only SELECT statement (parameters as ? or $1) and
// returns all its rows. Anything else, including several statements, is
// rejected with ErrNotReadOnly before it runs; the statement also runs in
// a read-only transaction. Values are those of database/sql: string,
// int64, float64, bool, time.Time, []any for lists, nil for NULL.
func (s *Store) Query(ctx context.Context, q string, args ...any) (*storage.Result, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error { return checkSelect(dc.(*duckdb.Conn), q) }); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `BEGIN TRANSACTION READ ONLY`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &storage.Result{Columns: cols}
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, row)
	}
	return res, rows.Err()
}

// checkSelect parses q with DuckDB's own parser, without running it, and
// accepts exactly one SELECT statement. Conn.Prepare (unlike
// PrepareContext) refuses several statements instead of running all but
// the last.
func checkSelect(c *duckdb.Conn, q string) error {
	st, err := c.Prepare(q)
	if err != nil {
		if strings.Contains(err.Error(), "multi-statement") {
			return ErrNotReadOnly
		}
		return err
	}
	defer st.Close()
	typ, err := st.(*duckdb.Stmt).StatementType()
	if err != nil {
		return err
	}
	if typ != duckdb.STATEMENT_TYPE_SELECT {
		return ErrNotReadOnly
	}
	return nil
}
