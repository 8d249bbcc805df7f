"""``provision``: the bucket, IAM role and Firehose stream the export needs, idempotently.

- S3 bucket: public access blocked, default encryption (SSE-S3, or SSE-KMS with ``--kms-key``),
  TLS-only bucket policy.
- IAM role Firehose assumes: write to the prefix only (and its error prefix), nothing else.
- Firehose Direct PUT stream writing GZIP NDJSON under ``PREFIX/dt=YYYY-MM-DD/hour=HH/`` by
  *event* time.  Our Firehose records pack many newline-terminated events, so event-time
  partitioning needs Firehose's record de-aggregation (delimited by newline) and a JQ
  metadata-extraction query on ``timestamp``.  With ``--no-dynamic-partitioning`` Firehose
  partitions by *arrival* time instead (cheaper, but an event can land in the next hour).

Run it again and it creates only what is missing; an existing stream whose configuration
differs is reported, never changed.  ``--dry-run`` prints the plan and every policy document
without calling AWS.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import click

from ._common import FORMAT_OPTION, CliError, echo_table, emit_json, status


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def plan(
    bucket: str,
    prefix: str,
    stream: str | None,
    account: str,
    region: str,
    *,
    dynamic_partitioning: bool = True,
    kms_key: str | None = None,
    tls_only: bool = True,
) -> dict[str, Any]:
    """Everything ``provision`` would create, as data: resource settings and policy documents."""
    prefix = prefix.strip("/")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    encryption: dict[str, Any] = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key} if kms_key else {"SSEAlgorithm": "AES256"}
    )
    doc: dict[str, Any] = {
        "bucket": {
            "name": bucket,
            "region": region,
            "public_access_block": dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
            ),
            "encryption": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": encryption, "BucketKeyEnabled": True}]
            },
            "policy": None
            if not tls_only
            else _policy(
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        },
        "writer_policy": _policy(
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{bucket_arn}/{prefix}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},  # check() only
        ),
    }
    if stream is None:
        return doc
    role = f"{stream}-firehose"
    stream_arn = f"arn:aws:firehose:{region}:{account}:deliverystream/{stream}"
    doc["role"] = {
        "name": role,
        "arn": f"arn:aws:iam::{account}:role/{role}",
        "trust_policy": _policy(
            {
                "Effect": "Allow",
                "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": account}},
            }
        ),
        "policy": _policy(
            {
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:PutObject", "s3:GetObject"],
                "Resource": [f"{bucket_arn}/{prefix}/*", f"{bucket_arn}/{prefix}-errors/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": bucket_arn,
            },
        ),
    }
    destination: dict[str, Any] = {
        "RoleARN": doc["role"]["arn"],
        "BucketARN": bucket_arn,
        "ErrorOutputPrefix": f"{prefix}-errors/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
        "CompressionFormat": "GZIP",
        "FileExtension": ".json.gz",
    }
    if dynamic_partitioning:
        destination.update(
            Prefix=f"{prefix}/dt=!{{partitionKeyFromQuery:dt}}/hour=!{{partitionKeyFromQuery:hour}}/",
            # Dynamic partitioning needs a buffer of at least 64 MB.
            BufferingHints={"SizeInMBs": 128, "IntervalInSeconds": 300},
            DynamicPartitioningConfiguration={"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}},
            ProcessingConfiguration={
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "RecordDeAggregation",
                        "Parameters": [
                            {"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"},
                            {
                                "ParameterName": "Delimiter",
                                "ParameterValue": base64.b64encode(b"\n").decode(),
                            },
                        ],
                    },
                    {
                        "Type": "MetadataExtraction",
                        "Parameters": [
                            {
                                "ParameterName": "MetadataExtractionQuery",
                                "ParameterValue": "{dt: .timestamp[0:10], hour: .timestamp[11:13]}",
                            },
                            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                        ],
                    },
                    {"Type": "AppendDelimiterToRecord", "Parameters": []},
                ],
            },
        )
    else:
        destination.update(
            Prefix=f"{prefix}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/",
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 300},
        )
    doc["stream"] = {"name": stream, "arn": stream_arn, "destination": destination}
    doc["writer_policy"] = _policy(
        {"Effect": "Allow", "Action": "firehose:PutRecordBatch", "Resource": stream_arn},
        {"Effect": "Allow", "Action": "firehose:DescribeDeliveryStream", "Resource": stream_arn},  # check()
    )
    return doc


def _client(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


def apply(doc: dict[str, Any]) -> list[dict[str, str]]:
    """Create what is missing; returns one line per resource: what was done."""
    steps: list[dict[str, str]] = []
    region = doc["bucket"]["region"]
    s3 = _client("s3", region)
    name = doc["bucket"]["name"]
    try:
        s3.head_bucket(Bucket=name)
        steps.append({"resource": f"s3://{name}", "action": "exists"})
    except Exception as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **extra)
        steps.append({"resource": f"s3://{name}", "action": "created"})
    s3.put_public_access_block(
        Bucket=name, PublicAccessBlockConfiguration=doc["bucket"]["public_access_block"]
    )
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=doc["bucket"]["encryption"])
    if doc["bucket"]["policy"]:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(doc["bucket"]["policy"]))
    tls = ", TLS only" if doc["bucket"]["policy"] else ""
    steps.append(
        {"resource": f"s3://{name} settings", "action": f"ensured (public access blocked, encrypted{tls})"}
    )
    if "stream" not in doc:
        return steps
    iam = _client("iam", region)
    role = doc["role"]
    try:
        iam.get_role(RoleName=role["name"])
        steps.append({"resource": f"role {role['name']}", "action": "exists"})
    except Exception as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        iam.create_role(RoleName=role["name"], AssumeRolePolicyDocument=json.dumps(role["trust_policy"]))
        steps.append({"resource": f"role {role['name']}", "action": "created"})
    iam.put_role_policy(
        RoleName=role["name"], PolicyName="firehose-delivery", PolicyDocument=json.dumps(role["policy"])
    )
    firehose = _client("firehose", region)
    stream = doc["stream"]
    try:
        described = firehose.describe_delivery_stream(DeliveryStreamName=stream["name"])
    except Exception as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        firehose.create_delivery_stream(
            DeliveryStreamName=stream["name"],
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration=stream["destination"],
        )
        steps.append({"resource": f"firehose {stream['name']}", "action": "created"})
        return steps
    differs = differences(stream["destination"], described)
    action = "exists" if not differs else f"exists, DIFFERS in {', '.join(differs)} (not changed)"
    steps.append({"resource": f"firehose {stream['name']}", "action": action})
    return steps


def differences(wanted: dict[str, Any], described: dict[str, Any]) -> list[str]:
    """The destination settings of a described stream that differ from *wanted*."""
    destinations = described["DeliveryStreamDescription"].get("Destinations", [])
    current = destinations[0].get("ExtendedS3DestinationDescription", {}) if destinations else {}
    return sorted(key for key, value in wanted.items() if current.get(key) != value)


@click.command(short_help="Create the S3 bucket, IAM role and Firehose stream (idempotent; --dry-run).")
@click.option("--bucket", required=True, help="S3 bucket (created if missing)")
@click.option("--prefix", default="flags/v1", show_default=True, help="key prefix of the export")
@click.option("--stream", help="Firehose delivery stream name (omit with --s3-only)")
@click.option("--s3-only", is_flag=True, help="only the bucket, for S3Sink (no role, no stream)")
@click.option(
    "--dynamic-partitioning/--no-dynamic-partitioning",
    default=True,
    show_default=True,
    help="event-time dt=/hour= (de-aggregation + JQ); without it Firehose uses ARRIVAL time",
)
@click.option("--kms-key", help="KMS key id or ARN for SSE-KMS (default: SSE-S3)")
@click.option("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
@click.option("--account-id", help="account id for --dry-run ARNs (otherwise asked from STS)")
@click.option("--dry-run", is_flag=True, help="print the plan and every policy document; call nothing")
@FORMAT_OPTION
def provision(
    bucket: str,
    prefix: str,
    stream: str | None,
    s3_only: bool,
    dynamic_partitioning: bool,
    kms_key: str | None,
    region: str | None,
    account_id: str | None,
    dry_run: bool,
    output_format: str,
) -> None:
    """Create, idempotently, what the export needs in AWS: an encrypted bucket with public access
    blocked, a least-privilege role for Firehose, and a Firehose Direct PUT stream writing GZIP
    NDJSON into event-time dt=/hour= partitions (see --no-dynamic-partitioning). Honours
    AWS_ENDPOINT_URL.

    \b
    Examples:
      openfeature-s3-export provision --bucket my-lake --stream flag-events --dry-run
      openfeature-s3-export provision --bucket my-lake --s3-only
    """
    if not s3_only and not stream:
        raise CliError("--stream is required", "name the Firehose stream, or pass --s3-only for S3Sink")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise CliError("no AWS region", "pass --region or set AWS_REGION")
    account = account_id or ("ACCOUNT_ID" if dry_run else _account(region))
    # A TLS-only bucket policy would lock out a plain-http endpoint (a local test server).
    tls_only = not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://")
    if not tls_only:
        status("note: AWS_ENDPOINT_URL is plain http, so the TLS-only bucket policy is left out")
    doc = plan(
        bucket,
        prefix,
        None if s3_only else stream,
        account,
        region,
        dynamic_partitioning=dynamic_partitioning,
        kms_key=kms_key,
        tls_only=tls_only,
    )
    if not dynamic_partitioning and not s3_only:
        status("note: without dynamic partitioning Firehose partitions by ARRIVAL time, not event time")
    if dry_run:
        if output_format == "json":
            emit_json(doc)
        else:
            click.echo(json.dumps(doc, indent=2))
        return
    try:
        steps = apply(doc)
    except CliError:
        raise
    except Exception as exc:
        raise CliError(
            f"provisioning failed: {_code(exc)}: {exc}", "check the credentials and permissions"
        ) from exc
    if output_format == "json":
        emit_json({"plan": doc, "steps": steps})
    else:
        echo_table(None, steps)
        target = f"s3://{bucket}/{prefix}" if s3_only else f"firehose://{stream}"
        click.echo(f"Next: openfeature-s3-export check {target}")


def _account(region: str) -> str:
    try:
        return str(_client("sts", region).get_caller_identity()["Account"])
    except Exception as exc:
        raise CliError(f"cannot ask STS for the account id: {exc}", "configure AWS credentials") from exc
