-- Spark / Databricks, schema v1 PARQUET under s3://BUCKET/PREFIX/.  The schema is given,
-- never inferred: dt and hour come from the folder names.
CREATE OR REPLACE TEMPORARY VIEW flag_events_raw (
    `schema_version` INT,
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
    `is_default_value` BOOLEAN,
    `provider` STRING,
    `vendor` STRING,
    `domain` STRING,
    `targeting_key` STRING,
    `context_kind` STRING,
    `context` STRING,
    `flag_metadata` STRING,
    `vendor_details` STRING,
    `event_name` STRING,
    `metric_value` DOUBLE,
    `attributes` STRING,
    `library_version` STRING,
    `service_name` STRING,
    `environment` STRING,
    `host` STRING,
    `sample_rate` DOUBLE,
    `hash_key_id` STRING,
    `dt` DATE,
    `hour` INT
)
USING parquet
OPTIONS (path 's3://BUCKET/PREFIX/', pathGlobFilter '*.parquet', recursiveFileLookup 'false');

-- One row per event: delivery is at-least-once, a duplicate is an identical row.
CREATE OR REPLACE TEMPORARY VIEW flag_events AS
SELECT
    `schema_version`, `event_id`, `kind`, `timestamp`, `flag_key`, `flag_type`, `value`,
    `default_value`, `variant`, `reason`, `vendor_reason`, `error_code`, `error_message`,
    `is_default_value`, `provider`, `vendor`, `domain`, `targeting_key`, `context_kind`,
    `context`, `flag_metadata`, `vendor_details`, `event_name`, `metric_value`, `attributes`,
    `library_version`, `service_name`, `environment`, `host`, `sample_rate`, `hash_key_id`,
    `dt`, `hour`
FROM (
    SELECT *, row_number() OVER (PARTITION BY `event_id` ORDER BY `timestamp`) AS copy_number
    FROM flag_events_raw
) AS numbered
WHERE copy_number = 1;

-- Databricks Auto Loader (Python), streaming new files into a Delta table:
-- (spark.readStream.format('cloudFiles')
--     .option('cloudFiles.format', 'parquet')
--     .option('cloudFiles.partitionColumns', 'dt,hour')
--     .schema('`schema_version` INT, `event_id` STRING, `kind` STRING, `timestamp` TIMESTAMP, `flag_key` STRING, `flag_type` STRING, `value` STRING, `default_value` STRING, `variant` STRING, `reason` STRING, `vendor_reason` STRING, `error_code` STRING, `error_message` STRING, `is_default_value` BOOLEAN, `provider` STRING, `vendor` STRING, `domain` STRING, `targeting_key` STRING, `context_kind` STRING, `context` STRING, `flag_metadata` STRING, `vendor_details` STRING, `event_name` STRING, `metric_value` DOUBLE, `attributes` STRING, `library_version` STRING, `service_name` STRING, `environment` STRING, `host` STRING, `sample_rate` DOUBLE, `hash_key_id` STRING, `dt` DATE, `hour` INT')
--     .load('s3://BUCKET/PREFIX/')
--     .writeStream.option('checkpointLocation', 's3://BUCKET/PREFIX-checkpoint/')
--     .toTable('flag_events_bronze'))

