-- DuckDB, schema v1 NDJSON under exports.  Query flag_events (one row per
-- event_id) or flag_events_raw (every delivered row).
-- Every row as delivered, every column typed explicitly (never inferred from a sample).
CREATE OR REPLACE VIEW flag_events_raw AS
SELECT
    CAST("schema_version" AS INTEGER) AS "schema_version",
    CAST("event_id" AS VARCHAR) AS "event_id",
    CAST("kind" AS VARCHAR) AS "kind",
    CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp",
    CAST("flag_key" AS VARCHAR) AS "flag_key",
    CAST("flag_type" AS VARCHAR) AS "flag_type",
    CAST("value" AS VARCHAR) AS "value",
    CAST("default_value" AS VARCHAR) AS "default_value",
    CAST("variant" AS VARCHAR) AS "variant",
    CAST("reason" AS VARCHAR) AS "reason",
    CAST("vendor_reason" AS VARCHAR) AS "vendor_reason",
    CAST("error_code" AS VARCHAR) AS "error_code",
    CAST("error_message" AS VARCHAR) AS "error_message",
    CAST("is_default_value" AS BOOLEAN) AS "is_default_value",
    CAST("provider" AS VARCHAR) AS "provider",
    CAST("vendor" AS VARCHAR) AS "vendor",
    CAST("domain" AS VARCHAR) AS "domain",
    CAST("targeting_key" AS VARCHAR) AS "targeting_key",
    CAST("context_kind" AS VARCHAR) AS "context_kind",
    CAST("context" AS VARCHAR) AS "context",
    CAST("flag_metadata" AS VARCHAR) AS "flag_metadata",
    CAST("vendor_details" AS VARCHAR) AS "vendor_details",
    CAST("event_name" AS VARCHAR) AS "event_name",
    CAST("metric_value" AS DOUBLE) AS "metric_value",
    CAST("attributes" AS VARCHAR) AS "attributes",
    CAST("library_version" AS VARCHAR) AS "library_version",
    CAST("service_name" AS VARCHAR) AS "service_name",
    CAST("environment" AS VARCHAR) AS "environment",
    CAST("host" AS VARCHAR) AS "host",
    CAST("sample_rate" AS DOUBLE) AS "sample_rate",
    CAST("hash_key_id" AS VARCHAR) AS "hash_key_id",
    CAST(dt AS DATE) AS dt,
    CAST(hour AS INTEGER) AS hour
FROM read_json('exports/**/*.json.gz', format = 'newline_delimited', columns = {'schema_version': 'INTEGER', 'event_id': 'VARCHAR', 'kind': 'VARCHAR', 'timestamp': 'TIMESTAMPTZ', 'flag_key': 'VARCHAR', 'flag_type': 'VARCHAR', 'value': 'VARCHAR', 'default_value': 'VARCHAR', 'variant': 'VARCHAR', 'reason': 'VARCHAR', 'vendor_reason': 'VARCHAR', 'error_code': 'VARCHAR', 'error_message': 'VARCHAR', 'is_default_value': 'BOOLEAN', 'provider': 'VARCHAR', 'vendor': 'VARCHAR', 'domain': 'VARCHAR', 'targeting_key': 'VARCHAR', 'context_kind': 'VARCHAR', 'context': 'VARCHAR', 'flag_metadata': 'VARCHAR', 'vendor_details': 'VARCHAR', 'event_name': 'VARCHAR', 'metric_value': 'DOUBLE', 'attributes': 'VARCHAR', 'library_version': 'VARCHAR', 'service_name': 'VARCHAR', 'environment': 'VARCHAR', 'host': 'VARCHAR', 'sample_rate': 'DOUBLE', 'hash_key_id': 'VARCHAR'}, hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER});

-- One row per event: delivery is at-least-once, a duplicate is an identical row.
CREATE OR REPLACE VIEW flag_events AS
SELECT DISTINCT ON (event_id) * FROM flag_events_raw;

