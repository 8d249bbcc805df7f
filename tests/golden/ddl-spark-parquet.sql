-- Spark / Databricks, schema v1 PARQUET under s3://BUCKET/PREFIX/.  The schema is given,
-- never inferred; dt and hour come from the folder names.  NDJSON is one object per
-- line: never set multiLine.
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
    `dt` DATE,
    `hour` INT
)
USING parquet
OPTIONS (path 's3://BUCKET/PREFIX/', pathGlobFilter '*.parquet', recursiveFileLookup 'false');

CREATE OR REPLACE TEMPORARY VIEW flag_events AS
SELECT * FROM flag_events_raw
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY `timestamp`) = 1;

-- Databricks Auto Loader (Python), streaming new files into a Delta table:
-- (spark.readStream.format('cloudFiles')
--     .option('cloudFiles.format', 'parquet')
--     .option('cloudFiles.partitionColumns', 'dt,hour')
--     .schema('`schema_version` INT, `event_id` STRING, `kind` STRING, `timestamp` TIMESTAMP, `flag_key` STRING, `flag_type` STRING, `value` STRING, `default_value` STRING, `variant` STRING, `reason` STRING, `vendor_reason` STRING, `error_code` STRING, `error_message` STRING, `is_default_value` BOOLEAN, `provider` STRING, `vendor` STRING, `domain` STRING, `targeting_key` STRING, `context_kind` STRING, `context` STRING, `flag_metadata` STRING, `vendor_details` STRING, `event_name` STRING, `metric_value` DOUBLE, `attributes` STRING, `library_version` STRING, `service_name` STRING, `environment` STRING, `host` STRING, `dt` DATE, `hour` INT')
--     .load('s3://BUCKET/PREFIX/')
--     .writeStream.option('checkpointLocation', 's3://BUCKET/PREFIX-checkpoint/')
--     .toTable('flag_events_bronze'))

