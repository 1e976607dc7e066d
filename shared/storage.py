"""Azure Storage behind small interfaces: queues, tables and the payload store.

    StorageError
    ├── StorageUnavailableError   the service could not be reached or refused us (retry later)
    └── PayloadMissingError       a claim-check reference points at nothing

Each interface has a real adapter (Azure SDK; Azurite locally) and an in-memory fake for unit
tests. Connections come from ``AzureWebJobsStorage``: a connection string (Azurite, or keys) or,
in Azure, identity-based settings ``AzureWebJobsStorage__queueServiceUri`` & co., the same ones
the Functions host reads for its triggers.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import names
from shared.queue_rest import QueueMissingError, QueueWriteError, QueueWriter

# Queue messages are at most 64 KiB and the Functions host expects base64: 48 KiB of JSON is
# the most that fits. Larger payloads go to a blob and the message carries its name.
MAX_INLINE_JSON_BYTES = 45 * 1024
# The longest an Azure Storage queue message may stay invisible (its visibility limit).
MAX_QUEUE_DELAY = timedelta(days=7) - timedelta(minutes=1)


class StorageError(Exception):
    """Base class of storage failures."""


class StorageUnavailableError(StorageError):
    """Storage could not be written or read; the caller should ask for a retry."""


class PayloadMissingError(StorageError):
    """A claim-check reference points at a payload that does not exist."""


# --------------------------------------------------------------------------------------
# Connection settings


@dataclass(frozen=True)
class StorageEndpoints:
    """Where storage is and how to authenticate: a connection string or a token credential."""

    connection_string: str | None
    queue_url: str | None = None
    table_url: str | None = None
    blob_url: str | None = None
    managed_identity_client_id: str | None = None

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> StorageEndpoints:
        prefix = names.STORAGE_CONNECTION
        plain = environ.get(prefix, "").strip()
        if plain:
            expanded = _expand_development_storage(plain)
            if not _looks_like_connection_string(expanded):
                # Said here, not as the SDK's ValueError from deep inside the first call; the
                # value is never repeated (it holds an account key).
                raise StorageUnavailableError(
                    f"{prefix} is not a storage connection string: expected key=value pairs "
                    "separated by ';' (AccountName=…;AccountKey=…;…, or "
                    "UseDevelopmentStorage=true)"
                )
            return cls(connection_string=expanded)
        account = environ.get(f"{prefix}__accountName", "").strip()
        queue_url = environ.get(f"{prefix}__queueServiceUri") or (
            f"https://{account}.queue.core.windows.net" if account else None
        )
        table_url = environ.get(f"{prefix}__tableServiceUri") or (
            f"https://{account}.table.core.windows.net" if account else None
        )
        blob_url = environ.get(f"{prefix}__blobServiceUri") or (
            f"https://{account}.blob.core.windows.net" if account else None
        )
        if not (queue_url and table_url and blob_url):
            raise StorageUnavailableError(
                f"storage is not configured: set {prefix} (connection string) or "
                f"{prefix}__accountName / {prefix}__queueServiceUri, __tableServiceUri, "
                "__blobServiceUri"
            )
        return cls(
            connection_string=None,
            queue_url=queue_url,
            table_url=table_url,
            blob_url=blob_url,
            managed_identity_client_id=environ.get(f"{prefix}__clientId") or None,
        )

    def credential(self) -> Any:
        # Imported here: azure-identity costs cold-start time and a connection string needs none.
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.managed_identity_client_id:
            return ManagedIdentityCredential(client_id=self.managed_identity_client_id)
        return DefaultAzureCredential()


# The well-known Azurite development account (published by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint={base}:{queue_port}/{AZURITE_ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{AZURITE_ACCOUNT};"
    )


_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def _looks_like_connection_string(value: str) -> bool:
    """``key=value`` pairs the SDK can build a client from: an account name (3 to 24 lower-case
    letters and digits) with its key, or a shared access signature."""
    pairs = [part.split("=", 1) for part in value.split(";") if part.strip()]
    if not pairs or any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        return False
    found = {key.strip().lower(): text.strip() for key, text in pairs}
    if "sharedaccesssignature" in found:
        return True
    return bool(_ACCOUNT_NAME.match(found.get("accountname", ""))) and bool(found.get("accountkey"))


def _expand_development_storage(value: str) -> str:
    if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
        return azurite_connection_string(10000, 10001, 10002)
    return value


def create_if_missing(create: Any) -> None:
    """Call a ``create_queue``/``create_table``/``create_container``; "already exists" is success.

    Two workers that both find a resource missing both create it; the slower one is told it
    exists (409). That is the state both wanted, not a storage failure.
    """
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        create()


# --------------------------------------------------------------------------------------
# Queues


# Who in this process wants to hear at once that a message was put on a queue: the dev host's
# pollers, so a stage's output wakes the next stage instead of waiting for its next poll. The
# Functions host's queue listener is likewise told of messages its own output bindings add;
# forewarn sends through its own storage client, which that notice does not see
# (docs/decisions.md).
_sent_listeners: dict[str, list[Callable[[], None]]] = defaultdict(list)
_sent_lock = threading.Lock()


def listen_for_sends(queue: str, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after this process puts a visible message on ``queue``; returns the
    function that stops it. The callback runs on the sender's thread: it must only signal."""
    with _sent_lock:
        _sent_listeners[queue].append(callback)

    def stop() -> None:
        with _sent_lock, contextlib.suppress(ValueError):
            _sent_listeners[queue].remove(callback)

    return stop


def announce_send(queue: str) -> None:
    """Tell this process's listeners that ``queue`` just got a visible message."""
    with _sent_lock:
        callbacks = list(_sent_listeners.get(queue, ()))
    for callback in callbacks:
        callback()


class QueuePublisher(ABC):
    """Puts one text message on a named queue."""

    @abstractmethod
    def send(self, queue: str, text: str, *, delay_seconds: int = 0) -> None:
        """Raise ``StorageUnavailableError`` when the message could not be stored.

        ``delay_seconds`` keeps the message invisible that long (how a stage honours a
        receiver's ``Retry-After`` without holding a worker).
        """


def quick_failing_options(timeout_seconds: float = 5.0) -> dict[str, Any]:
    """Client options for azure-storage-queue and -blob that report an outage in seconds.

    The SDKs' default retry waits 15 s before its first retry (``ExponentialRetry``): an
    Action Group would wait ~16 s for a 503 and a poll loop would stall. One quick retry
    covers a dropped connection; a longer outage is the caller's to handle (a 503, the
    host's message retry, the delivery stage's own bounded retry of its ledger writes).
    A connection gets 2 s: within a region it takes milliseconds, so two tries, the pause
    between them and the answer fit in 5 s.
    """
    return {
        "connection_timeout": min(2.0, timeout_seconds),
        "read_timeout": timeout_seconds,
        "retry_total": 1,
        "initial_backoff": 0.5,
        "random_jitter_range": 0,
    }


class AzureQueuePublisher(QueuePublisher):
    """Base64-encoded messages, as the Functions queue trigger expects.

    A message is put by ``shared.queue_rest`` (one REST call, authenticated as the SDK client
    of the queue is); the SDK client creates the queue and sends where that writer cannot
    (a proxy in the environment).
    """

    def __init__(self, endpoints: StorageEndpoints, *, timeout_seconds: float = 5.0) -> None:
        self._endpoints = endpoints
        self._timeout = timeout_seconds
        self._clients: dict[str, Any] = {}
        self._writers: dict[str, QueueWriter | None] = {}
        self._lock = threading.Lock()

    def _writer(self, queue: str) -> QueueWriter | None:
        """The lean writer for this queue (``shared.queue_rest``), None where the SDK sends."""
        try:
            return self._writers[queue]
        except KeyError:
            writer = QueueWriter.mirroring(self._client(queue), timeout_seconds=self._timeout)
            with self._lock:
                return self._writers.setdefault(queue, writer)

    def _client(self, queue: str) -> Any:
        from azure.storage.queue import (
            BinaryBase64DecodePolicy,
            BinaryBase64EncodePolicy,
            QueueClient,
        )

        with self._lock:
            client = self._clients.get(queue)
            if client is None:
                options: dict[str, Any] = {
                    "message_encode_policy": BinaryBase64EncodePolicy(),
                    "message_decode_policy": BinaryBase64DecodePolicy(),
                    **quick_failing_options(self._timeout),
                }
                if self._endpoints.connection_string:
                    client = QueueClient.from_connection_string(
                        self._endpoints.connection_string, queue, **options
                    )
                else:
                    client = QueueClient(
                        f"{self._endpoints.queue_url}",
                        queue,
                        credential=self._endpoints.credential(),
                        **options,
                    )
                self._clients[queue] = client
            return client

    def send(self, queue: str, text: str, *, delay_seconds: int = 0) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        data = text.encode("utf-8")
        visibility = delay_seconds or None
        try:
            try:
                self._put(queue, data, visibility)
            except (QueueMissingError, ResourceNotFoundError):
                # A fresh account (Azurite, or a redeploy) may not have the queue yet.
                create_if_missing(self._client(queue).create_queue)
                self._put(queue, data, visibility)
        except (QueueWriteError, AzureError) as error:
            raise StorageUnavailableError(f"queue {queue!r} could not be written") from error
        if not delay_seconds:
            announce_send(queue)

    def _put(self, queue: str, data: bytes, visibility: int | None) -> None:
        writer = self._writer(queue)
        if writer is None:
            self._client(queue).send_message(data, visibility_timeout=visibility)
        else:
            # What BinaryBase64EncodePolicy makes of the bytes, sent in one REST call.
            writer.put(base64.b64encode(data).decode("ascii"), visibility_timeout=visibility)


class InMemoryQueuePublisher(QueuePublisher):
    """Keeps messages in lists, for unit tests and in-process pipelines."""

    def __init__(self) -> None:
        self.messages: dict[str, deque[str]] = defaultdict(deque)
        self.delays: dict[str, list[int]] = defaultdict(list)
        self.fail_with: Exception | None = None

    def send(self, queue: str, text: str, *, delay_seconds: int = 0) -> None:
        if self.fail_with is not None:
            raise StorageUnavailableError(f"queue {queue!r} could not be written") from (
                self.fail_with
            )
        self.messages[queue].append(text)
        self.delays[queue].append(delay_seconds)

    def drain(self, queue: str) -> Iterator[str]:
        pending = self.messages[queue]
        while pending:
            yield pending.popleft()


def decode_queue_body(body: bytes | str) -> str:
    """Undo the base64 that the Functions host and ``AzureQueuePublisher`` agree on."""
    raw = body.encode("ascii") if isinstance(body, str) else body
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        # The host hands triggers the decoded text already; accept either.
        return raw.decode("utf-8")


# --------------------------------------------------------------------------------------
# Payloads too large for a queue message (claim check)


class PayloadStore(ABC):
    @abstractmethod
    def put(self, name: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, name: str) -> bytes:
        """Raise ``PayloadMissingError`` when there is no such payload."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete the payload; one already gone is no error."""


class InMemoryPayloadStore(PayloadStore):
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, name: str, data: bytes) -> None:
        self.blobs[name] = data

    def get(self, name: str) -> bytes:
        try:
            return self.blobs[name]
        except KeyError:
            raise PayloadMissingError(name) from None

    def delete(self, name: str) -> None:
        self.blobs.pop(name, None)


class AzureBlobPayloadStore(PayloadStore):
    def __init__(
        self, endpoints: StorageEndpoints, container: str = names.CONTAINER_PAYLOADS
    ) -> None:
        from azure.storage.blob import BlobServiceClient

        options = quick_failing_options()
        if endpoints.connection_string:
            service = BlobServiceClient.from_connection_string(
                endpoints.connection_string, **options
            )
        else:
            service = BlobServiceClient(
                f"{endpoints.blob_url}", credential=endpoints.credential(), **options
            )
        self._container = service.get_container_client(container)

    def put(self, name: str, data: bytes) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            try:
                self._container.upload_blob(name, data, overwrite=True)
            except ResourceNotFoundError:
                create_if_missing(self._container.create_container)
                self._container.upload_blob(name, data, overwrite=True)
        except AzureError as error:
            raise StorageUnavailableError(f"payload {name!r} could not be written") from error

    def get(self, name: str) -> bytes:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return bytes(self._container.download_blob(name).readall())
        except ResourceNotFoundError:
            raise PayloadMissingError(name) from None
        except AzureError as error:
            raise StorageUnavailableError(f"payload {name!r} could not be read") from error

    def delete(self, name: str) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self._container.delete_blob(name)
        except ResourceNotFoundError:
            return
        except AzureError as error:
            raise StorageUnavailableError(f"payload {name!r} could not be deleted") from error


# --------------------------------------------------------------------------------------
# The envelope every queue message of forewarn uses

ENVELOPE_VERSION = 1


@dataclass(frozen=True)
class Envelope:
    """``{"v": 1, "kind": ..., "id": ..., "traceparent": ..., "body"|"ref": ...}``."""

    kind: str
    id: str
    body: dict[str, Any]
    traceparent: str | None = None


class Courier:
    """Sends and opens envelopes, parking large bodies in the payload store."""

    def __init__(self, queues: QueuePublisher, payloads: PayloadStore) -> None:
        self.queues = queues
        self.payloads = payloads

    def send(self, queue: str, envelope: Envelope, *, delay_seconds: int = 0) -> None:
        body_json = json.dumps(envelope.body, separators=(",", ":"), ensure_ascii=False)
        message: dict[str, Any] = {
            "v": ENVELOPE_VERSION,
            "kind": envelope.kind,
            "id": envelope.id,
        }
        if envelope.traceparent:
            message["traceparent"] = envelope.traceparent
        body_bytes = body_json.encode("utf-8")
        if len(body_bytes) <= MAX_INLINE_JSON_BYTES:
            # The body is spliced in as already serialised, not serialised a second time:
            # the same text as json.dumps of the whole message, with "body" as its last key.
            head = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
            text = f'{head[:-1]},"body":{body_json}}}'
        else:
            ref = f"{envelope.kind}/{envelope.id}/{uuid.uuid4().hex}.json"
            self.payloads.put(ref, body_bytes)
            message["ref"] = ref
            text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        self.queues.send(queue, text, delay_seconds=delay_seconds)

    def open(self, text: str) -> Envelope:
        message = json.loads(text)
        if "ref" in message:
            body = json.loads(self.payloads.get(message["ref"]).decode("utf-8"))
        else:
            body = message["body"]
        return Envelope(
            kind=message["kind"],
            id=message["id"],
            body=body,
            traceparent=message.get("traceparent"),
        )


# --------------------------------------------------------------------------------------
# Tables


_FORBIDDEN_KEY_CHARS = set("/\\#?%") | {chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))}
MAX_KEY_CHARS = 200


def table_key(text: str) -> str:
    """A PartitionKey/RowKey: forbidden characters percent-escaped, long keys hashed."""
    escaped = "".join(
        f"%{ord(char):02X}" if char in _FORBIDDEN_KEY_CHARS else char for char in text
    )
    if len(escaped) <= MAX_KEY_CHARS:
        return escaped
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{escaped[: MAX_KEY_CHARS - 17]}~{digest}"


@dataclass(frozen=True)
class VersionedEntity:
    """An entity as read, with the ETag that a conditional write must still find."""

    entity: dict[str, Any]
    etag: str


class EntityTable(ABC):
    """A table of JSON-able entities addressed by partition key and row key."""

    @abstractmethod
    def get(self, partition: str, row: str) -> dict[str, Any] | None: ...

    def get_many(self, partition: str, rows: list[str]) -> dict[str, dict[str, Any]]:
        """The entities of these rows of one partition that exist, by row key. The real table
        asks ``ROWS_PER_QUERY`` rows per query instead of one round trip per row."""
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            entity = self.get(partition, row)
            if entity is not None:
                found[row] = entity
        return found

    @abstractmethod
    def get_versioned(self, partition: str, row: str) -> VersionedEntity | None:
        """The entity and its ETag (for ``update_if_unchanged``), or ``None``."""

    @abstractmethod
    def update_if_unchanged(
        self, partition: str, row: str, entity: Mapping[str, Any], etag: str
    ) -> bool:
        """Replace the entity and return True only if its ETag is still ``etag`` (atomic);
        return False when another writer changed or deleted it meanwhile (HTTP 412 / 404)."""

    @abstractmethod
    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None: ...

    def upsert_many(self, partition: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        """Upsert every ``row: entity`` of one partition. The real table sends them as
        transactions of up to ``TRANSACTION_ROWS`` (one round trip each instead of one per
        entity); each transaction is all or nothing, and the first that fails raises."""
        for row, entity in rows.items():
            self.upsert(partition, row, entity)

    @abstractmethod
    def insert_if_absent(self, partition: str, row: str, entity: Mapping[str, Any]) -> bool:
        """Insert and return True, or return False when the key exists (atomic)."""

    @abstractmethod
    def delete(self, partition: str, row: str) -> None: ...

    @abstractmethod
    def query(self, partition: str | None = None) -> Iterator[dict[str, Any]]:
        """Entities with ``PartitionKey`` and ``RowKey`` keys added."""

    @abstractmethod
    def written_before(
        self, cutoff: datetime, limit: int, where: tuple[str, tuple[str, ...]] | None = None
    ) -> list[tuple[str, str]]:
        """Keys (partition, row) of at most ``limit`` entities last written before ``cutoff``
        (the service's own ``Timestamp``): what a retention pass may delete. ``where``:
        (property, values): only entities whose property holds one of the values."""

    def delete_many(self, partition: str, rows: Iterable[str]) -> None:
        """Delete these rows of one partition (absent ones are no error). The real table sends
        them as transactions of up to ``TRANSACTION_ROWS``."""
        for row in rows:
            self.delete(partition, row)


class InMemoryEntityTable(EntityTable):
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        # Every write bumps a row's version; the version is its ETag, as in the service.
        self._versions: dict[tuple[str, str], int] = {}
        # When each row was last written: the service's ``Timestamp``, kept beside the row.
        self.written_at: dict[tuple[str, str], datetime] = {}
        self._written = 0
        self._lock = threading.Lock()

    def get(self, partition: str, row: str) -> dict[str, Any] | None:
        found = self.rows.get((partition, row))
        return dict(found) if found is not None else None

    def get_many(self, partition: str, rows: list[str]) -> dict[str, dict[str, Any]]:
        found = ((row, self.rows.get((partition, row))) for row in rows)
        return {row: dict(entity) for row, entity in found if entity is not None}

    def get_versioned(self, partition: str, row: str) -> VersionedEntity | None:
        with self._lock:
            found = self.rows.get((partition, row))
            if found is None:
                return None
            return VersionedEntity(dict(found), str(self._versions[(partition, row)]))

    def _write(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        # Versions come from one table-wide counter, so a row deleted and written again
        # never repeats an ETag that an old reader may still hold.
        self._written += 1
        self.rows[(partition, row)] = {**entity, "PartitionKey": partition, "RowKey": row}
        self._versions[(partition, row)] = self._written
        self.written_at[(partition, row)] = datetime.now(UTC)

    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        with self._lock:
            self._write(partition, row, entity)

    def upsert_many(self, partition: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        with self._lock:
            for row, entity in rows.items():
                self._write(partition, row, entity)

    def insert_if_absent(self, partition: str, row: str, entity: Mapping[str, Any]) -> bool:
        with self._lock:
            if (partition, row) in self.rows:
                return False
            self._write(partition, row, entity)
            return True

    def update_if_unchanged(
        self, partition: str, row: str, entity: Mapping[str, Any], etag: str
    ) -> bool:
        with self._lock:
            if (partition, row) not in self.rows or str(self._versions[(partition, row)]) != etag:
                return False
            self._write(partition, row, entity)
            return True

    def delete(self, partition: str, row: str) -> None:
        with self._lock:
            self.rows.pop((partition, row), None)
            self._versions.pop((partition, row), None)
            self.written_at.pop((partition, row), None)

    def written_before(
        self, cutoff: datetime, limit: int, where: tuple[str, tuple[str, ...]] | None = None
    ) -> list[tuple[str, str]]:
        with self._lock:
            old = sorted(
                key
                for key, at in self.written_at.items()
                if at < cutoff and (where is None or self.rows[key].get(where[0]) in where[1])
            )
        return old[:limit]

    def query(self, partition: str | None = None) -> Iterator[dict[str, Any]]:
        for (pk, _), entity in sorted(self.rows.items()):
            if partition is None or pk == partition:
                yield dict(entity)


# The connections one table client keeps open (its requests pool): its callers keep at most
# this many requests under way at once (``get_many``'s queries and ``upsert_many``'s
# transactions, ``AzureEntityTable``), so none is discarded.
TABLE_CONNECTIONS = 32


def _pooled_transport(connections: int = TABLE_CONNECTIONS) -> Any:
    """An HTTP transport whose pool fits the threads that share one client.

    azure-core's default requests pool keeps 10 connections; enrichment writes the instance-view
    cache from 16 threads, and every connection past 10 would be opened and thrown away.
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True)


# A query filter may hold at most 15 comparisons (Azure Tables, "Querying tables and
# entities"): the partition key and 14 row keys.
ROWS_PER_QUERY = 14
QUERY_WORKERS = 8


def row_chunks(rows: list[str]) -> list[list[str]]:
    """Distinct ``rows`` in order, ``ROWS_PER_QUERY`` at a time."""
    distinct = list(dict.fromkeys(rows))
    return [distinct[at : at + ROWS_PER_QUERY] for at in range(0, len(distinct), ROWS_PER_QUERY)]


# A table transaction ("entity group transaction") holds at most 100 entities of one
# partition and 4 MiB of payload; the bytes limit is kept with room for the request framing.
TRANSACTION_ROWS = 100
TRANSACTION_BYTES = 3 * 1024 * 1024


def transaction_batches(
    operations: list[tuple[str, dict[str, Any]]],
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    batch: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for operation in operations:
        # Property values are strings, numbers and booleans: their text length bounds the JSON.
        weight = sum(len(str(value)) + len(key) + 8 for key, value in operation[1].items())
        if batch and (len(batch) == TRANSACTION_ROWS or size + weight > TRANSACTION_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(operation)
        size += weight
    if batch:
        yield batch


class AzureEntityTable(EntityTable):
    """azure-data-tables; creates the table on first use."""

    def __init__(self, endpoints: StorageEndpoints, table: str) -> None:
        from azure.data.tables import TableClient

        if endpoints.connection_string:
            self._client = TableClient.from_connection_string(
                endpoints.connection_string, table_name=table, transport=_pooled_transport()
            )
        else:
            self._client = TableClient(
                f"{endpoints.table_url}",
                table_name=table,
                credential=endpoints.credential(),
                transport=_pooled_transport(),
            )
        self._created = False
        # get_many's queries and upsert_many's transactions run side by side, and so do their
        # callers (the enrich stage reads up to 8 subscriptions at once, and writes the reads
        # made meanwhile): 64 queries would outrun the client's 32 connections.
        self._in_flight = threading.BoundedSemaphore(TABLE_CONNECTIONS)

    def _ensure(self) -> None:
        if not self._created:
            from azure.core.exceptions import AzureError

            try:
                create_if_missing(self._client.create_table)
            except AzureError as error:
                raise StorageUnavailableError("table could not be created") from error
            self._created = True

    def get(self, partition: str, row: str) -> dict[str, Any] | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        self._ensure()
        try:
            return dict(self._client.get_entity(partition, row))
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageUnavailableError("table could not be read") from error

    def get_many(self, partition: str, rows: list[str]) -> dict[str, dict[str, Any]]:
        from azure.core.exceptions import AzureError

        self._ensure()

        def query(chunk: list[str]) -> list[dict[str, Any]]:
            names = [f"r{index}" for index in range(len(chunk))]
            wanted = " or ".join(f"RowKey eq @{name}" for name in names)
            parameters = {"pk": partition, **dict(zip(names, chunk, strict=True))}
            # Spaces around the parentheses: the SDK finds each @name between spaces.
            with self._in_flight:  # held while the pages are read: the connection is in use
                entities = self._client.query_entities(
                    f"PartitionKey eq @pk and ( {wanted} )", parameters=parameters
                )
                return [dict(entity) for entity in entities]

        chunks = row_chunks(rows)
        try:
            if len(chunks) <= 1:
                answers = [query(chunk) for chunk in chunks]
            else:
                with ThreadPoolExecutor(min(QUERY_WORKERS, len(chunks))) as pool:
                    answers = list(pool.map(query, chunks))
        except AzureError as error:
            raise StorageUnavailableError("table could not be read") from error
        return {entity["RowKey"]: entity for answer in answers for entity in answer}

    def get_versioned(self, partition: str, row: str) -> VersionedEntity | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        self._ensure()
        try:
            found = self._client.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageUnavailableError("table could not be read") from error
        return VersionedEntity(dict(found), str(found.metadata["etag"]))

    def update_if_unchanged(
        self, partition: str, row: str, entity: Mapping[str, Any], etag: str
    ) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            HttpResponseError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        self._ensure()
        try:
            self._client.update_entity(
                {**entity, "PartitionKey": partition, "RowKey": row},
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False  # 412: written by someone else since we read it; 404: deleted
        except HttpResponseError as error:
            if error.status_code in (404, 412):
                return False
            raise StorageUnavailableError("table could not be written") from error
        except AzureError as error:
            raise StorageUnavailableError("table could not be written") from error

    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        from azure.core.exceptions import AzureError

        self._ensure()
        try:
            self._client.upsert_entity({**entity, "PartitionKey": partition, "RowKey": row})
        except AzureError as error:
            raise StorageUnavailableError("table could not be written") from error

    def upsert_many(self, partition: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        self._ensure()
        operations = [
            ("upsert", {**entity, "PartitionKey": partition, "RowKey": row})
            for row, entity in rows.items()
        ]
        batches = list(transaction_batches(operations))

        def submit(batch: list[tuple[str, dict[str, Any]]]) -> None:
            with self._in_flight:  # the cache is written while other subscriptions' are read
                self._client.submit_transaction(batch)

        try:
            if len(batches) <= 1:
                for batch in batches:
                    submit(batch)
            else:
                # Side by side: one transaction's round trip overlaps the next one's encoding.
                with ThreadPoolExecutor(min(QUERY_WORKERS, len(batches))) as pool:
                    list(pool.map(submit, batches))
        except (AzureError, TableTransactionError) as error:
            raise StorageUnavailableError("table could not be written") from error

    def insert_if_absent(self, partition: str, row: str, entity: Mapping[str, Any]) -> bool:
        from azure.core.exceptions import AzureError, ResourceExistsError

        self._ensure()
        try:
            self._client.create_entity({**entity, "PartitionKey": partition, "RowKey": row})
            return True
        except ResourceExistsError:
            return False
        except AzureError as error:
            raise StorageUnavailableError("table could not be written") from error

    def delete(self, partition: str, row: str) -> None:
        from azure.core.exceptions import AzureError

        self._ensure()
        try:
            self._client.delete_entity(partition, row)
        except AzureError as error:
            raise StorageUnavailableError("table could not be written") from error

    def written_before(
        self, cutoff: datetime, limit: int, where: tuple[str, tuple[str, ...]] | None = None
    ) -> list[tuple[str, str]]:
        from azure.core.exceptions import AzureError

        self._ensure()
        found: list[tuple[str, str]] = []
        text = "Timestamp lt @cutoff"
        parameters: dict[str, Any] = {"cutoff": cutoff}
        if where is not None:
            # Property names are the code's own; values go as parameters (the SDK quotes them).
            wanted = [f"{where[0]} eq @v{index}" for index in range(len(where[1]))]
            text += f" and ( {' or '.join(wanted)} )"
            parameters.update({f"v{index}": value for index, value in enumerate(where[1])})
        try:
            # Filtered by the service, keys only: a pass reads what it may delete, not the table.
            entities = self._client.query_entities(
                text,
                parameters=parameters,
                select=["PartitionKey", "RowKey"],
                results_per_page=min(limit, 1000),
            )
            for entity in entities:
                found.append((str(entity["PartitionKey"]), str(entity["RowKey"])))
                if len(found) >= limit:
                    break
        except AzureError as error:
            raise StorageUnavailableError("table could not be read") from error
        return found

    def delete_many(self, partition: str, rows: Iterable[str]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        self._ensure()
        operations = [("delete", {"PartitionKey": partition, "RowKey": row}) for row in rows]
        try:
            for at in range(0, len(operations), TRANSACTION_ROWS):
                batch = operations[at : at + TRANSACTION_ROWS]
                try:
                    self._client.submit_transaction(batch)
                except TableTransactionError:
                    # One row already gone (another pass) fails the whole transaction; one by
                    # one, a missing row is no error.
                    for _, entity in batch:
                        self._client.delete_entity(partition, entity["RowKey"])
        except AzureError as error:
            raise StorageUnavailableError("table could not be written") from error

    def query(self, partition: str | None = None) -> Iterator[dict[str, Any]]:
        from azure.core.exceptions import AzureError

        self._ensure()
        try:
            if partition is None:
                entities = self._client.list_entities()
            else:
                entities = self._client.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": partition}
                )
            for entity in entities:
                yield dict(entity)
        except AzureError as error:
            raise StorageUnavailableError("table could not be read") from error


# --------------------------------------------------------------------------------------
# One place that builds the real adapters from settings


class StorageServices:
    """The storage adapters a function needs, built once per process from settings."""

    def __init__(
        self,
        queues: QueuePublisher,
        payloads: PayloadStore,
        table_factory: Any,
    ) -> None:
        self.queues = queues
        self.payloads = payloads
        self.courier = Courier(queues, payloads)
        self._table_factory = table_factory
        self._tables: dict[str, EntityTable] = {}

    def table(self, name: str) -> EntityTable:
        if name not in self._tables:
            self._tables[name] = self._table_factory(name)
        return self._tables[name]

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> StorageServices:
        endpoints = StorageEndpoints.from_settings(environ)
        return cls(
            AzureQueuePublisher(endpoints),
            AzureBlobPayloadStore(endpoints),
            lambda name: AzureEntityTable(endpoints, name),
        )

    @classmethod
    def in_memory(cls) -> StorageServices:
        return cls(
            InMemoryQueuePublisher(), InMemoryPayloadStore(), lambda _: InMemoryEntityTable()
        )
