-- Athena Iceberg: flag_events_iceberg holds one row per event_id, loaded from the external table
-- flag_events (openfeature-s3-export ddl --engine athena --format ndjson).  Iceberg DDL in
-- Athena takes timestamp without time zone: values are UTC.
CREATE TABLE IF NOT EXISTS flag_events_iceberg (
    `schema_version`   int,
    `event_id`         string,
    `kind`             string,
    `timestamp`        timestamp,
    `flag_key`         string,
    `flag_type`        string,
    `value`            string,
    `default_value`    string,
    `variant`          string,
    `reason`           string,
    `vendor_reason`    string,
    `error_code`       string,
    `error_message`    string,
    `is_default_value` boolean,
    `provider`         string,
    `vendor`           string,
    `domain`           string,
    `targeting_key`    string,
    `context_kind`     string,
    `context`          string,
    `flag_metadata`    string,
    `vendor_details`   string,
    `event_name`       string,
    `metric_value`     double,
    `attributes`       string,
    `library_version`  string,
    `service_name`     string,
    `environment`      string,
    `host`             string,
    `sample_rate`      double,
    `hash_key_id`      string
)
PARTITIONED BY (day(`timestamp`))
LOCATION 's3://BUCKET/iceberg/flag_events/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd');

-- Load (or re-load) a day: re-runnable, an event already loaded is skipped.
MERGE INTO flag_events_iceberg AS t
USING (
    SELECT
        "schema_version",
        "event_id",
        "kind",
        CAST(from_iso8601_timestamp("timestamp") AT TIME ZONE 'UTC' AS timestamp) AS "timestamp",
        "flag_key",
        "flag_type",
        "value",
        "default_value",
        "variant",
        "reason",
        "vendor_reason",
        "error_code",
        "error_message",
        "is_default_value",
        "provider",
        "vendor",
        "domain",
        "targeting_key",
        "context_kind",
        "context",
        "flag_metadata",
        "vendor_details",
        "event_name",
        "metric_value",
        "attributes",
        "library_version",
        "service_name",
        "environment",
        "host",
        "sample_rate",
        "hash_key_id"
    FROM (
        SELECT *, row_number() OVER (PARTITION BY event_id) AS copy FROM flag_events
        WHERE dt = '2026-01-01'
    ) WHERE copy = 1
) AS s
ON t.event_id = s.event_id
WHEN NOT MATCHED THEN INSERT ("schema_version", "event_id", "kind", "timestamp", "flag_key", "flag_type", "value", "default_value", "variant", "reason", "vendor_reason", "error_code", "error_message", "is_default_value", "provider", "vendor", "domain", "targeting_key", "context_kind", "context", "flag_metadata", "vendor_details", "event_name", "metric_value", "attributes", "library_version", "service_name", "environment", "host", "sample_rate", "hash_key_id")
VALUES (s."schema_version", s."event_id", s."kind", s."timestamp", s."flag_key", s."flag_type", s."value", s."default_value", s."variant", s."reason", s."vendor_reason", s."error_code", s."error_message", s."is_default_value", s."provider", s."vendor", s."domain", s."targeting_key", s."context_kind", s."context", s."flag_metadata", s."vendor_details", s."event_name", s."metric_value", s."attributes", s."library_version", s."service_name", s."environment", s."host", s."sample_rate", s."hash_key_id");

