package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/vigilsec/vigil/storage"
)

// Config configures a Store.
type Config struct {
	// URL locates the server and database:
	// clickhouse://[user[:password]@]host:9000/database?param=value.
	// Parameters are clickhouse-go's (dial_timeout, secure, ...) or server
	// settings, plus retention_days (see Retention). The database defaults
	// to "default" and is created when missing. Required.
	URL string
	// Retention is how long events are kept before ClickHouse drops them
	// (a TTL on events.event_time, rounded up to whole days; ClickHouse
	// 19.6 or later). Default: the URL's retention_days, else 0, which
	// keeps events forever. Alerts and deliveries are always kept.
	Retention time.Duration
	// Now returns the current time, for ingest_time and created_time.
	// Default time.Now.
	Now func() time.Time
}

// Store is vigil's ClickHouse store: it writes events and alerts
// (storage.Sink), records alert deliveries (notify.DeliveryLog) and runs
// read-only analyst queries (storage.Querier).
type Store struct {
	conn      driver.Conn
	database  string
	version   proto.Version
	features  features
	retention time.Duration
	now       func() time.Time
	delivered deliveredSet // keys State need not ask about again
}

var (
	_ storage.Sink    = (*Store)(nil)
	_ storage.Querier = (*Store)(nil)
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// codeUnknownDatabase is ClickHouse's UNKNOWN_DATABASE error code.
const codeUnknownDatabase = 81

// Open connects to the server named by cfg.URL, creating the database when
// it does not exist. Call Migrate before writing.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	ctx, done := guard(ctx)
	defer done()
	opts, retention, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Retention != 0 {
		retention = cfg.Retention
	}
	if retention < 0 {
		return nil, fmt.Errorf("clickhouse: negative retention %v", retention)
	}
	conn, err := connect(ctx, opts)
	var exc *ch.Exception
	if errors.As(err, &exc) && exc.Code == codeUnknownDatabase {
		if err := createDatabase(ctx, *opts); err != nil {
			return nil, err
		}
		conn, err = connect(ctx, opts)
	}
	if err != nil {
		return nil, err
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		_ = conn.Close() // the version error is the one to report
		return nil, fmt.Errorf("clickhouse: server version: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		conn:      conn,
		database:  opts.Auth.Database,
		version:   sv.Version,
		features:  featuresOf(sv.Version),
		retention: retention,
		now:       now,
	}, nil
}

// maxRetentionDays bounds the URL's retention_days: a hundred years, far
// below the overflow of time.Duration (about 106,000 days).
const maxRetentionDays = 36500

// parseURL turns a clickhouse:// URL into driver options, taking out the
// parameters that are vigil's.
func parseURL(raw string) (*ch.Options, time.Duration, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "clickhouse" || u.Host == "" {
		return nil, 0, fmt.Errorf("clickhouse: URL %q: want clickhouse://host:port/database", redact(raw))
	}
	q := u.Query()
	var retention time.Duration
	if d := q.Get("retention_days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return nil, 0, fmt.Errorf("clickhouse: URL %q: retention_days %q is not a whole number of days", redact(raw), d)
		}
		if n > maxRetentionDays {
			return nil, 0, fmt.Errorf("clickhouse: URL %q: retention_days %d is over %d (a hundred years); 0 keeps events forever", redact(raw), n, maxRetentionDays)
		}
		retention = time.Duration(n) * 24 * time.Hour
		q.Del("retention_days")
		u.RawQuery = q.Encode()
	}
	opts, err := ch.ParseDSN(u.String())
	if err != nil {
		return nil, 0, fmt.Errorf("clickhouse: URL %q: %w", redact(raw), err)
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "default"
	}
	if !identifier.MatchString(opts.Auth.Database) {
		return nil, 0, fmt.Errorf("clickhouse: database name %q: want letters, digits and underscores", opts.Auth.Database)
	}
	return opts, retention, nil
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func connect(ctx context.Context, opts *ch.Options) (driver.Conn, error) {
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close() // the ping error is the one to report
		return nil, fmt.Errorf("clickhouse: connecting to %v: %w", opts.Addr, err)
	}
	return conn, nil
}

// createDatabase creates opts' database through a connection to the
// server's default database.
func createDatabase(ctx context.Context, opts ch.Options) error {
	db := opts.Auth.Database
	opts.Auth.Database = ""
	conn, err := connect(ctx, &opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return fmt.Errorf("clickhouse: creating database %s: %w", db, err)
	}
	return nil
}

// ServerVersion returns the server's version, e.g. "18.16.1".
func (s *Store) ServerVersion() string { return s.version.String() }

// Close closes the connections.
func (s *Store) Close() error { return s.conn.Close() }

// Query runs one read-only SQL statement with readonly=1, so it cannot
// write, alter or change settings. Args bind to ? placeholders, quoted by
// the driver. Values come back as Go values: strings, unsigned and signed
// integers, floats, time.Time, slices for arrays.
func (s *Store) Query(ctx context.Context, sql string, args ...any) (*storage.Result, error) {
	ctx, done := guard(ctx)
	defer done()
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"readonly": 1}))
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: query: %w", err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	res := &storage.Result{Columns: rows.Columns()}
	for rows.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("clickhouse: query: %w", err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			v := reflect.ValueOf(d).Elem()
			if v.Kind() == reflect.Pointer { // Nullable column
				if v.IsNil() {
					continue
				}
				v = v.Elem()
			}
			row[i] = v.Interface()
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: query: %w", err)
	}
	return res, nil
}
