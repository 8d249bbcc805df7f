-- Snowflake, schema v1 NDJSON in stage @flag_events_stage/ (for example
-- CREATE STAGE ... URL = 's3://BUCKET/PREFIX/' STORAGE_INTEGRATION = ...).
-- Our "value" column is flag_value here: VALUE is the external table's raw row.
CREATE OR REPLACE FILE FORMAT flag_events_format TYPE = JSON COMPRESSION = GZIP;

CREATE OR REPLACE EXTERNAL TABLE flag_events (
    dt DATE AS TO_DATE(SPLIT_PART(REGEXP_SUBSTR(METADATA$FILENAME, 'dt=[0-9-]+'), '=', 2)),
    hour INTEGER AS TO_NUMBER(SPLIT_PART(REGEXP_SUBSTR(METADATA$FILENAME, 'hour=[0-9]+'), '=', 2)),
    schema_version INTEGER AS (VALUE:"schema_version"::INTEGER),
    event_id VARCHAR AS (VALUE:"event_id"::VARCHAR),
    kind VARCHAR AS (VALUE:"kind"::VARCHAR),
    timestamp TIMESTAMP_TZ AS (VALUE:"timestamp"::TIMESTAMP_TZ),
    flag_key VARCHAR AS (VALUE:"flag_key"::VARCHAR),
    flag_type VARCHAR AS (VALUE:"flag_type"::VARCHAR),
    flag_value VARCHAR AS (VALUE:"value"::VARCHAR),
    default_value VARCHAR AS (VALUE:"default_value"::VARCHAR),
    variant VARCHAR AS (VALUE:"variant"::VARCHAR),
    reason VARCHAR AS (VALUE:"reason"::VARCHAR),
    vendor_reason VARCHAR AS (VALUE:"vendor_reason"::VARCHAR),
    error_code VARCHAR AS (VALUE:"error_code"::VARCHAR),
    error_message VARCHAR AS (VALUE:"error_message"::VARCHAR),
    is_default_value BOOLEAN AS (VALUE:"is_default_value"::BOOLEAN),
    provider VARCHAR AS (VALUE:"provider"::VARCHAR),
    vendor VARCHAR AS (VALUE:"vendor"::VARCHAR),
    domain VARCHAR AS (VALUE:"domain"::VARCHAR),
    targeting_key VARCHAR AS (VALUE:"targeting_key"::VARCHAR),
    context_kind VARCHAR AS (VALUE:"context_kind"::VARCHAR),
    context VARCHAR AS (VALUE:"context"::VARCHAR),
    flag_metadata VARCHAR AS (VALUE:"flag_metadata"::VARCHAR),
    vendor_details VARCHAR AS (VALUE:"vendor_details"::VARCHAR),
    event_name VARCHAR AS (VALUE:"event_name"::VARCHAR),
    metric_value DOUBLE AS (VALUE:"metric_value"::DOUBLE),
    attributes VARCHAR AS (VALUE:"attributes"::VARCHAR),
    library_version VARCHAR AS (VALUE:"library_version"::VARCHAR),
    service_name VARCHAR AS (VALUE:"service_name"::VARCHAR),
    environment VARCHAR AS (VALUE:"environment"::VARCHAR),
    host VARCHAR AS (VALUE:"host"::VARCHAR),
    sample_rate DOUBLE AS (VALUE:"sample_rate"::DOUBLE),
    hash_key_id VARCHAR AS (VALUE:"hash_key_id"::VARCHAR)
)
PARTITION BY (dt, hour)
LOCATION = @flag_events_stage/
AUTO_REFRESH = TRUE
FILE_FORMAT = (FORMAT_NAME = 'flag_events_format');

