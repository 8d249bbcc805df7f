-- BigQuery, schema v1 NDJSON under gs://BUCKET/PREFIX/: every column declared, dt/hour
-- from the folder names, and every query must filter on dt.
CREATE OR REPLACE EXTERNAL TABLE flag_events (
    `schema_version` INT64,
    `event_id` STRING,
    `kind` STRING,
    `timestamp` TIMESTAMP,
    `flag_key` STRING,
    `flag_type` STRING,
    `value` STRING,
    `default_value` STRING,
    `variant` STRING,
    `reason` STRING,
    `vendor_reason` STRING,
    `error_code` STRING,
    `error_message` STRING,
    `is_default_value` BOOL,
    `provider` STRING,
    `vendor` STRING,
    `domain` STRING,
    `targeting_key` STRING,
    `context_kind` STRING,
    `context` STRING,
    `flag_metadata` STRING,
    `vendor_details` STRING,
    `event_name` STRING,
    `metric_value` FLOAT64,
    `attributes` STRING,
    `library_version` STRING,
    `service_name` STRING,
    `environment` STRING,
    `host` STRING,
    `sample_rate` FLOAT64,
    `hash_key_id` STRING
)
WITH PARTITION COLUMNS (dt DATE, hour INT64)
OPTIONS (
    format = 'NEWLINE_DELIMITED_JSON', compression = 'GZIP',
    uris = ['gs://BUCKET/PREFIX/*'],
    hive_partition_uri_prefix = 'gs://BUCKET/PREFIX/',
    require_hive_partition_filter = true
);

