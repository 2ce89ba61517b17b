// Package storage holds what vigil's stores share: the tables, the Sink
// contract that the ClickHouse and DuckDB stores implement, and read-only
// querying for analysts. Stores live in sub-packages (clickhouse, duckdb);
// the buses between stages live beside them (memory, kafka).
package storage

import (
	"context"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
)

// Table names, the same in every store.
const (
	EventsTable     = "events"
	AlertsTable     = "alerts"
	DeliveriesTable = "alert_deliveries"
)

// Sink writes events and alerts to a store. Writing the same event ID or
// alert ID again must leave one row in the end (the stores deduplicate on
// the stable IDs), so a sink may be retried and input may be replayed.
// Methods return only after the rows are durably accepted by the store.
type Sink interface {
	InsertEvents(ctx context.Context, evs []*ingest.Event) error
	InsertAlerts(ctx context.Context, alerts []*detect.Alert) error
}

// Result is the outcome of a read-only query: column names and rows.
type Result struct {
	Columns []string
	Rows    [][]any
}

// Querier runs read-only SQL for analysts (vigil query).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (*Result, error)
}
