// Package duckdb is vigil's embedded store: the events, alerts and
// alert_deliveries tables of the ClickHouse store in one DuckDB file
// (./vigil-data/vigil.duckdb by default), so that `vigil run` and
// `vigil query` work with nothing installed.
//
// Tables have primary keys on the stable IDs (event_id, alert_id, and
// alert_id+destination+attempt for deliveries) and every insert is an
// upsert, so replaying input collapses to one row per ID without a merge
// step. Times are TIMESTAMPTZ in UTC; alerts.event_ids and alerts.tags are
// VARCHAR lists. The applied schema versions are recorded in the
// schema_migrations table. Besides storage.Sink and storage.Querier, a Store
// is a notify.DeliveryLog over alert_deliveries.
//
// A batch is appended to a per-connection staging table with DuckDB's
// appender and moved into its table by one INSERT … ON CONFLICT statement,
// so it lands whole or not at all.
//
// DuckDB lets one process open a file for writing; a store being written by
// `vigil run` cannot be opened by another process until it stops.
package duckdb
