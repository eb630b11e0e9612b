"""Storage for large audit payloads: a local directory (embedded default) or S3 / MinIO.

Keys are relative, ``/``-separated paths (``2026/01/31/<request id>-<n>.json``); anything
else (``..``, absolute paths, odd characters) is refused with :class:`InvalidPayloadKey`,
so no key can escape the payload directory or bucket. Every foreign error is translated
once, here, into :class:`PayloadError`; every S3 call has a deadline, so a dead S3
slows nothing down for longer than that deadline.

    store = await build_payload_store(settings)   # opened in the app lifecycle
    try:
        await store.put(key, data)
    finally:
        await store.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from .config import Settings
from .datadir import private_dirs

__all__ = [
    "InvalidPayloadKey",
    "LocalPayloadStore",
    "PayloadError",
    "PayloadNotFound",
    "PayloadStore",
    "S3PayloadStore",
    "build_payload_store",
    "check_key",
]

_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,8}}")
_MAX_KEY = 512
_S3_DELETE_BATCH = 1000  # DeleteObjects limit


class PayloadError(Exception):
    """The payload store failed (unreachable, timed out, refused, disk error)."""


class PayloadNotFound(PayloadError):
    """No object under that key."""


class InvalidPayloadKey(PayloadError, ValueError):
    """The key is not a safe relative path."""


def check_key(key: str) -> str:
    """``key`` if it is a safe relative path of ``[A-Za-z0-9._-]`` segments, else raise."""
    if len(key) > _MAX_KEY or not _KEY.fullmatch(key) or ".." in key:
        raise InvalidPayloadKey(f"invalid payload key {key[:80]!r}")
    return key


class PayloadStore(Protocol):
    kind: str  # "local" | "s3"

    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, keys: Sequence[str]) -> int: ...
    async def ping(self) -> bool: ...
    def status(self) -> dict[str, Any]: ...
    async def aclose(self) -> None: ...


class _Health:
    """``ok``/``last_error`` bookkeeping shared by both stores (for ``/admin/health``)."""

    def __init__(self) -> None:
        self.ok = True
        self.last_error: str | None = None

    def success(self) -> None:
        self.ok = True

    def failure(self, exc: BaseException) -> PayloadError:
        self.ok = False
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if isinstance(exc, PayloadError):
            return exc
        return PayloadError(self.last_error)


# -- local directory ---------------------------------------------------------------------


class LocalPayloadStore:
    """Files under ``root``; writes are atomic (temporary file, fsync, rename)."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._health = _Health()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # belt and braces: symlinks
            raise InvalidPayloadKey(f"invalid payload key {key[:80]!r}")
        return path

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            result = await asyncio.to_thread(fn, *args)
        except PayloadNotFound:
            raise
        except OSError as exc:
            raise self._health.failure(exc) from exc
        self._health.success()
        return result

    async def put(self, key: str, data: bytes) -> None:
        await self._run(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes:
        return bytes(await self._run(self._read, self._path(key), key))

    async def delete(self, keys: Sequence[str]) -> int:
        paths = [self._path(k) for k in keys]
        return int(await self._run(self._remove, paths))

    async def ping(self) -> bool:
        try:
            await self._run(self._probe)
        except PayloadError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "ok": self._health.ok, "last_error": self._health.last_error,
                "location": str(self.root)}

    async def aclose(self) -> None:
        return None

    # blocking helpers, run in a thread

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _read(path: Path, key: str) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PayloadNotFound(f"no payload {key!r}") from None

    def _remove(self, paths: list[Path]) -> int:
        removed = 0
        for path in paths:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
            parent = path.parent
            while parent != self.root and parent.is_relative_to(self.root):
                try:
                    parent.rmdir()  # only succeeds when empty
                except OSError:
                    break
                parent = parent.parent
        return removed

    def _probe(self) -> None:
        private_dirs(self.root)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")


# -- S3 / MinIO ----------------------------------------------------------------------------


class S3PayloadStore:
    """Objects in one bucket (created if missing) via aiobotocore.

    Connect and read timeouts are short, botocore's own retries are off, and every call
    runs under ``asyncio.timeout(op_timeout)``: a dead S3 fails fast instead of blocking.
    If S3 is down at start-up the store still opens and creates the bucket on the first
    successful call.
    """

    kind = "s3"

    def __init__(self, settings: Settings, *, connect_timeout: float = 2.0,
                 read_timeout: float = 5.0, op_timeout: float = 8.0) -> None:
        self._settings = settings
        self.bucket = settings.s3_bucket
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._op_timeout = op_timeout
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._bucket_ready = False
        self._health = _Health()

    async def open(self) -> S3PayloadStore:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        s = self._settings
        config = AioConfig(
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
            max_pool_connections=32,
        )
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3", endpoint_url=s.s3_endpoint_url, region_name=s.s3_region,
                aws_access_key_id=s.s3_access_key, aws_secret_access_key=s.s3_secret_key,
                config=config,
            )
        )
        with contextlib.suppress(PayloadError):
            await self._ensure_bucket()  # S3 down at start: try again on first use
        return self

    async def _call(self, make: Any) -> Any:
        """Run ``make()`` (a coroutine factory) under the deadline, translating errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            async with asyncio.timeout(self._op_timeout):
                result = await make()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise PayloadNotFound(str(exc)) from exc
            raise self._health.failure(exc) from exc
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise self._health.failure(exc) from exc
        self._health.success()
        return result

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            await self._call(lambda: self._client.head_bucket(Bucket=self.bucket))
        except PayloadNotFound:
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self._settings.s3_region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {
                    "LocationConstraint": self._settings.s3_region
                }
            await self._call(lambda: self._client.create_bucket(**kwargs))
        self._bucket_ready = True

    async def put(self, key: str, data: bytes) -> None:
        check_key(key)
        await self._ensure_bucket()
        await self._call(lambda: self._client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType="application/json"))

    async def get(self, key: str) -> bytes:
        check_key(key)

        async def fetch() -> bytes:
            resp = await self._client.get_object(Bucket=self.bucket, Key=key)
            async with resp["Body"] as body:
                return bytes(await body.read())

        return bytes(await self._call(fetch))

    async def delete(self, keys: Sequence[str]) -> int:
        keys = [check_key(k) for k in keys]
        deleted = 0
        for i in range(0, len(keys), _S3_DELETE_BATCH):
            chunk = keys[i:i + _S3_DELETE_BATCH]
            resp = await self._call(lambda chunk=chunk: self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            ))
            errors = resp.get("Errors") or []
            if errors:
                raise self._health.failure(PayloadError(
                    f"{len(errors)} object(s) not deleted: {errors[0].get('Message', '')}"))
            deleted += len(chunk)
        return deleted

    async def ping(self) -> bool:
        try:
            self._bucket_ready = False
            await self._ensure_bucket()
        except PayloadError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "ok": self._health.ok, "last_error": self._health.last_error,
                "bucket": self.bucket, "endpoint": self._settings.s3_endpoint_url}

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None


async def build_payload_store(settings: Settings) -> PayloadStore:
    """S3 when ``S3_ENDPOINT_URL`` or ``S3_ACCESS_KEY`` is set, else ``DATA_DIR/payloads``."""
    if settings.s3_enabled:
        return await S3PayloadStore(settings).open()
    return LocalPayloadStore(settings.data_dir / "payloads")

