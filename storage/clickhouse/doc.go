// Package clickhouse is vigil's ClickHouse store: the schema and its
// migrations, inserts of events and alerts (storage.Sink), the notifier's
// delivery state in alert_deliveries (notify.DeliveryLog: one synchronous
// INSERT per attempt, so that replicas and restarts share it), and
// read-only analyst queries (storage.Querier).
//
// Tables are ReplacingMergeTree engines keyed on the stable IDs, so a
// replayed insert of the same event or alert collapses into one row when
// parts merge (or with SELECT ... FINAL, or OPTIMIZE TABLE ... FINAL). The
// same migration works on ClickHouse 18.16 and on current releases; newer
// features (LowCardinality, codecs, skipping indexes, TTL retention) are
// used where the server has them. README.md is the analyst's guide.
//
// Writes go through a storage/batch Writer, whose flush function is
// InsertEvents or InsertAlerts:
//
//	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: "clickhouse://127.0.0.1:9000/vigil"})
//	...
//	err = st.Migrate(ctx)
//	events, err := batch.New(batch.Config[*ingest.Event]{DeadLetter: deadLetter}, st.InsertEvents)
//	alerts, err := batch.New(batch.Config[*detect.Alert]{Interval: 200 * time.Millisecond}, st.InsertAlerts)
package clickhouse
