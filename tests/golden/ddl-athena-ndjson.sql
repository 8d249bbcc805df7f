-- Athena, schema v1 NDJSON under s3://BUCKET/PREFIX/: partitions are projected from dt=/hour=,
-- so there is no crawler and no MSCK REPAIR TABLE. Always filter on dt (and hour).
-- timestamp is RFC 3339 text: from_iso8601_timestamp("timestamp") in queries.
CREATE EXTERNAL TABLE IF NOT EXISTS flag_events (
    `schema_version`   int,
    `event_id`         string,
    `kind`             string,
    `timestamp`        string,
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
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
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

