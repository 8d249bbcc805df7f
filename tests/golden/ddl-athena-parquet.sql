-- Athena, schema v1 PARQUET under s3://BUCKET/PREFIX/: partitions are projected from dt=/hour=,
-- so there is no crawler and no MSCK REPAIR TABLE. Always filter on dt (and hour).
-- timestamp is a UTC timestamp in Parquet.
CREATE EXTERNAL TABLE IF NOT EXISTS flag_events (
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
PARTITIONED BY (`dt` string, `hour` int)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2026-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'projection.hour.type' = 'integer',
    'projection.hour.range' = '0,23',
    'projection.hour.digits' = '2',
    'storage.location.template' = 's3://BUCKET/PREFIX/dt=${dt}/hour=${hour}/'
);

