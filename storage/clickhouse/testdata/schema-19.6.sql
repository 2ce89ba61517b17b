-- ClickHouse 19.6.2
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    description String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY version;

CREATE TABLE IF NOT EXISTS events (
    event_id String,
    event_time DateTime('UTC'),
    ingest_time DateTime('UTC'),
    log_type LowCardinality(String),
    source String,
    account LowCardinality(String),
    region LowCardinality(String),
    actor String,
    action LowCardinality(String),
    target String,
    src_ip String,
    dst_ip String,
    src_port UInt16,
    dst_port UInt16,
    protocol LowCardinality(String),
    outcome LowCardinality(String),
    user_agent String,
    raw String
) ENGINE = ReplacingMergeTree(ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (log_type, event_time, actor, event_id);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id String,
    rule_id LowCardinality(String),
    title String,
    severity LowCardinality(String),
    summary String,
    group_key String,
    first_time DateTime('UTC'),
    last_time DateTime('UTC'),
    count UInt64,
    event_ids Array(String),
    tags Array(String),
    rule_version UInt32,
    log_type LowCardinality(String),
    created_time DateTime('UTC')
) ENGINE = ReplacingMergeTree(count)
PARTITION BY toYYYYMM(first_time)
ORDER BY (rule_id, alert_id);

CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id String,
    destination LowCardinality(String),
    attempt UInt32,
    status LowCardinality(String),
    error String,
    attempted_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (alert_id, destination, attempt);

ALTER TABLE alerts ADD COLUMN mode LowCardinality(String) DEFAULT 'enabled';

