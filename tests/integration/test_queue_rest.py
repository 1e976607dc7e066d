"""The queue writer ingest answers after (``shared.queue_rest``): on a real Azurite, which checks
every signature, and on a stand-in storage endpoint on 127.0.0.1 for what Azurite cannot be
made to do (answer 503, close idle connections, want an Entra token).

The SDK client of the same queue reads back what the writer put, through the Functions' base64
decode policy: the writer must put what ``send_message`` put before it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import (
    AccountSasPermissions,
    BinaryBase64DecodePolicy,
    QueueClient,
    ResourceTypes,
    generate_account_sas,
)

from shared.queue_rest import QueueMissingError, QueueWriteError, QueueWriter
from shared.standins.http_stub import StubServer, reply
from shared.storage import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    AzureQueuePublisher,
    StorageEndpoints,
    StorageUnavailableError,
)
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

SAMPLE = (
    Path(__file__).parents[1] / "fixtures/forewarn/common-servicehealth-maintenance-planned.json"
)
CREATED = b"<?xml version='1.0' encoding='utf-8'?><QueueMessagesList></QueueMessagesList>"


def fresh_queue() -> str:
    return f"rest{uuid.uuid4().hex[:12]}"


def reader(connection_string: str, queue: str) -> QueueClient:
    return QueueClient.from_connection_string(
        connection_string, queue, message_decode_policy=BinaryBase64DecodePolicy()
    )


def received(client: QueueClient) -> list[str]:
    return [m.content.decode("utf-8") for m in client.receive_messages(max_messages=32)]


# ---- on Azurite ----------------------------------------------------------------------------

# GIVEN a message text                         WHEN the publisher sends it   THEN the SDK reads it
TEXTS = [
    SAMPLE.read_text(encoding="utf-8"),  # a real alert: 3 KB of JSON
    json.dumps({"title": "Wartung für VM «sql-01» — Ôst-US", "emoji": "\U0001f527"}),
    "x",
]


@pytest.mark.parametrize("text", TEXTS, ids=["real-alert", "non-ascii", "one-char"])
def test_what_the_publisher_puts_the_sdk_reads_back_unchanged(azurite: Azurite, text: str) -> None:
    queue = fresh_queue()
    publisher = AzureQueuePublisher(StorageEndpoints(azurite.connection_string))
    publisher.send(queue, text)  # the queue does not exist yet: created on the way
    assert received(reader(azurite.connection_string, queue)) == [text]


def test_a_delayed_message_stays_invisible(azurite: Azurite) -> None:
    # The delay travels in the query string, which the Shared Key signature covers.
    queue = fresh_queue()
    publisher = AzureQueuePublisher(StorageEndpoints(azurite.connection_string))
    publisher.send(queue, "now")
    publisher.send(queue, "later", delay_seconds=60)
    client = reader(azurite.connection_string, queue)
    assert received(client) == ["now"]
    assert client.get_queue_properties().approximate_message_count == 2


def test_a_shared_access_signature_in_the_connection_string_is_used(azurite: Azurite) -> None:
    queue = fresh_queue()
    reader(azurite.connection_string, queue).create_queue()
    sas = generate_account_sas(
        AZURITE_ACCOUNT,
        AZURITE_KEY,
        ResourceTypes(object=True),
        AccountSasPermissions(add=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    endpoint = next(
        part for part in azurite.connection_string.split(";") if part.startswith("QueueEndpoint=")
    )
    publisher = AzureQueuePublisher(StorageEndpoints(f"{endpoint};SharedAccessSignature={sas}"))
    publisher.send(queue, "signed by a SAS")
    assert received(reader(azurite.connection_string, queue)) == ["signed by a SAS"]


def test_a_wrong_account_key_is_refused_and_nothing_is_stored(azurite: Azurite) -> None:
    # That a 403 is not tried again is the stand-in's to show (RETRIES below): a time bound
    # here would be the machine's load as much as the writer's.
    queue = fresh_queue()
    reader(azurite.connection_string, queue).create_queue()
    wrong = azurite.connection_string.replace(AZURITE_KEY, "A" * 86 + "==")
    with pytest.raises(StorageUnavailableError) as refused:
        AzureQueuePublisher(StorageEndpoints(wrong)).send(queue, "x")
    assert isinstance(refused.value.__cause__, QueueWriteError)
    assert refused.value.__cause__.status == 403
    assert received(reader(azurite.connection_string, queue)) == []


def test_threads_sharing_one_publisher_each_put_every_message(azurite: Azurite) -> None:
    queue = fresh_queue()
    publisher = AzureQueuePublisher(StorageEndpoints(azurite.connection_string))
    publisher.send(queue, "first")
    threads = [
        threading.Thread(target=lambda t=t: [publisher.send(queue, f"{t}-{n}") for n in range(25)])
        for t in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    count = reader(azurite.connection_string, queue).get_queue_properties()
    assert count.approximate_message_count == 1 + 8 * 25


def test_a_missing_queue_is_told_as_such(azurite: Azurite) -> None:
    client = QueueClient.from_connection_string(azurite.connection_string, fresh_queue())
    writer = QueueWriter.mirroring(client)
    assert writer is not None
    with pytest.raises(QueueMissingError):
        writer.put("eA==")


# ---- on a stand-in storage endpoint --------------------------------------------------------


@dataclass
class Seen:
    path: str
    authorization: str | None
    connection: int  # which TCP connection carried it (1, 2, ...)


class Storage:
    """A stand-in queue endpoint answering each Put Message with the next status of a script
    (then 201); ``close_after_each`` ends every connection after its answer, without saying so,
    as a server whose keep-alive timeout has run out does."""

    def __init__(self, statuses: list[int], *, close_after_each: bool = False) -> None:
        self.statuses = list(statuses)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        # Keyed by the client's port: one per TCP connection. (The handler's id() was used
        # before; a closed connection's handler can be freed and its id given to the next.)
        self.connections: dict[tuple[str, int], int] = {}
        outer = self

        def respond(handler: BaseHTTPRequestHandler) -> None:
            length = int(handler.headers.get("Content-Length") or 0)
            handler.rfile.read(length)
            with outer.lock:
                peer = (str(handler.client_address[0]), int(handler.client_address[1]))
                number = outer.connections.setdefault(peer, len(outer.connections) + 1)
                outer.seen.append(Seen(handler.path, handler.headers["Authorization"], number))
                status = outer.statuses.pop(0) if outer.statuses else 201
            reply(handler, status, CREATED if status == 201 else b"", "application/xml")
            if close_after_each:
                handler.close_connection = True

        self.server = StubServer(respond)

    def __enter__(self) -> Storage:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def queue_url(self) -> str:
        return f"{self.server.url}/{AZURITE_ACCOUNT}/events"


@pytest.fixture
def storage_with() -> Iterator[Callable[..., Storage]]:
    started: list[Storage] = []

    def start(statuses: list[int], **options: Any) -> Storage:
        storage = Storage(statuses, **options).__enter__()
        started.append(storage)
        return storage

    yield start
    for storage in started:
        storage.__exit__(None, None, None)


def key_writer(url: str) -> QueueWriter:
    return QueueWriter(url, shared_key=(AZURITE_ACCOUNT, b"k" * 64), retry_pause=0.05)


# GIVEN storage answers these statuses   THEN attempts   AND the put
RETRIES = [
    ([], 1, "stored"),
    ([503], 2, "stored"),
    ([500], 2, "stored"),
    ([408], 2, "stored"),
    ([503, 503], 2, "QueueWriteError 503"),
    ([400], 1, "QueueWriteError 400"),
    ([403], 1, "QueueWriteError 403"),
    ([501], 1, "QueueWriteError 501"),
]


@pytest.mark.parametrize(("statuses", "attempts", "outcome"), RETRIES)
def test_one_quick_retry_for_what_may_pass_the_second_time(
    storage_with: Callable[..., Storage], statuses: list[int], attempts: int, outcome: str
) -> None:
    storage = storage_with(statuses)
    writer = key_writer(storage.queue_url)
    try:
        writer.put("eA==")
        result = "stored"
    except QueueWriteError as error:
        result = f"QueueWriteError {error.status}"
    assert (len(storage.seen), result) == (attempts, outcome)


def test_a_connection_is_kept_between_puts(storage_with: Callable[..., Storage]) -> None:
    storage = storage_with([])
    writer = key_writer(storage.queue_url)
    for _ in range(5):
        writer.put("eA==")
    assert [seen.connection for seen in storage.seen] == [1] * 5


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry_pause(
    storage_with: Callable[..., Storage],
) -> None:
    storage = storage_with([], close_after_each=True)
    writer = QueueWriter(
        storage.queue_url, shared_key=(AZURITE_ACCOUNT, b"k" * 64), retry_pause=5.0
    )
    started = time.monotonic()
    for _ in range(3):
        writer.put("eA==")
        time.sleep(0.05)  # the server's close reaches the client
    assert time.monotonic() - started < 2.0
    assert [seen.connection for seen in storage.seen] == [1, 2, 3]


@dataclass
class Token:
    token: str
    expires_on: int


class Credential:
    """Hands out tokens t1, t2, ..., each valid for ``lifetime`` seconds."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> Token:
        self.scopes.extend(scopes)
        return Token(f"t{len(self.scopes)}", int(time.time()) + self.lifetime)


# GIVEN tokens valid for   AND storage answers   THEN the puts carry        (3 puts)
TOKENS = [
    (3600, [], ["Bearer t1", "Bearer t1", "Bearer t1"]),
    (60, [], ["Bearer t1", "Bearer t2", "Bearer t3"]),  # within 5 minutes of expiry: renewed
    (3600, [401], ["Bearer t1", "Bearer t2", "Bearer t2", "Bearer t2"]),  # refused: renewed
]


@pytest.mark.parametrize(("lifetime", "statuses", "sent"), TOKENS)
def test_an_entra_token_is_asked_once_and_renewed_before_it_lapses_or_when_refused(
    storage_with: Callable[..., Storage], lifetime: int, statuses: list[int], sent: list[str]
) -> None:
    storage = storage_with(statuses)
    credential = Credential(lifetime)
    writer = QueueWriter(storage.queue_url, credential=credential, retry_pause=0.01)
    for _ in range(3):
        writer.put("eA==")
    assert [seen.authorization for seen in storage.seen] == sent
    assert set(credential.scopes) == {"https://storage.azure.com/.default"}


def test_a_delay_and_a_sas_travel_in_the_query(storage_with: Callable[..., Storage]) -> None:
    storage = storage_with([])
    writer = QueueWriter(storage.queue_url, sas="sv=2021-12-02&sig=abc%2B")
    writer.put("eA==", visibility_timeout=30)
    assert storage.seen[0].path == (
        f"/{AZURITE_ACCOUNT}/events/messages?visibilitytimeout=30&sv=2021-12-02&sig=abc%2B"
    )
    assert storage.seen[0].authorization is None


def test_an_unreachable_endpoint_is_reported_after_one_retry() -> None:
    from shared.standins.stand_in import closed_port

    writer = QueueWriter(
        f"http://127.0.0.1:{closed_port()}/{AZURITE_ACCOUNT}/events",
        shared_key=(AZURITE_ACCOUNT, b"k"),
        retry_pause=0.05,
    )
    with pytest.raises(QueueWriteError, match="could not be reached"):
        writer.put("eA==")


# GIVEN the environment says                 THEN the publisher writes with
PROXIES = [
    ({}, "shared.queue_rest"),
    ({"HTTP_PROXY": "http://proxy.invalid:3128"}, "the SDK"),
    ({"HTTP_PROXY": "http://proxy.invalid:3128", "NO_PROXY": "127.0.0.1"}, "shared.queue_rest"),
]


@pytest.mark.parametrize(("environ", "writer"), PROXIES)
def test_a_proxy_in_the_environment_leaves_the_writing_to_the_sdk(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], writer: str
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    client = QueueClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"QueueEndpoint=http://127.0.0.1:1/{AZURITE_ACCOUNT};",
        "events",
    )
    mirrored = QueueWriter.mirroring(client)
    assert ("shared.queue_rest" if mirrored is not None else "the SDK") == writer


def test_only_base64_is_written() -> None:
    writer = QueueWriter("http://127.0.0.1:1/a/q")
    with pytest.raises(ValueError, match="base64"):
        writer.put("</MessageText><x>")


class NoTokenYet:
    """A token credential as the SDK client holds it (managed identity in Azure)."""

    def get_token(self, *scopes: str) -> Token:
        raise AssertionError("not asked before the first put")


# GIVEN the SDK client of the queue was built with    THEN the writer signs with
CLIENTS = [
    (
        lambda: QueueClient.from_connection_string(
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURITE_KEY};"
            "EndpointSuffix=core.windows.net",
            "events",
        ),
        "https://acct.queue.core.windows.net/events/messages",
        "the account key",
    ),
    (
        lambda: QueueClient.from_connection_string(
            "QueueEndpoint=https://acct.queue.core.windows.net/;SharedAccessSignature=sv=1&sig=a",
            "events",
        ),
        "https://acct.queue.core.windows.net/events/messages",
        "the SAS",
    ),
    (
        lambda: QueueClient(
            "https://acct.queue.core.windows.net", "events", credential=NoTokenYet()
        ),
        "https://acct.queue.core.windows.net/events/messages",
        "an Entra token",
    ),
]


@pytest.mark.parametrize(("client", "target", "signing"), CLIENTS)
def test_the_writer_goes_where_the_sdk_client_goes_signed_as_it_would_be(
    client: Callable[[], QueueClient], target: str, signing: str
) -> None:
    writer = QueueWriter.mirroring(client())
    assert writer is not None
    assert writer.target == target
    assert writer.signing == signing
