"""S3: list the keys under a prefix and read an object, for trail logs delivered to a bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from remediate.aws.base import ClientFactory, aws_call

# ListObjectsV2 is authorised by the IAM action s3:ListBucket.
LIST_PERMISSION = "s3:ListBucket"


@dataclass(frozen=True)
class S3Listing:
    """The keys and the common prefixes (folders) of one listing, in the order S3 returns them.

    Without a delimiter, `keys` contains every key under the prefix and
    `common_prefixes` is empty.
    """

    keys: tuple[str, ...]
    common_prefixes: tuple[str, ...]


class S3Gateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    @property
    def _s3(self) -> Any:
        # botocore follows S3's redirect when the bucket is in another region.
        return self._clients.client("s3")

    def list_objects(self, bucket: str, prefix: str, *, delimiter: str | None = None) -> S3Listing:
        """List every page of ListObjectsV2 under `prefix`, grouping keys at `delimiter`."""
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter is not None:
            arguments["Delimiter"] = delimiter
        keys: list[str] = []
        prefixes: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_call("s3", "ListObjectsV2", f"s3://{bucket}/{prefix}", permission=LIST_PERMISSION):
            for page in paginator.paginate(**arguments):
                keys.extend(str(item["Key"]) for item in page.get("Contents", []))
                prefixes.extend(str(item["Prefix"]) for item in page.get("CommonPrefixes", []))
        return S3Listing(keys=tuple(keys), common_prefixes=tuple(prefixes))

    def get_object_bytes(self, bucket: str, key: str) -> bytes:
        """Return the whole content of one object."""
        with aws_call("s3", "GetObject", f"s3://{bucket}/{key}"):
            response = self._s3.get_object(Bucket=bucket, Key=key)
            data: bytes = response["Body"].read()
        return data
