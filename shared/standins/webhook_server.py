"""A stand-in webhook receiver that verifies forewarn's signature as a user's would.

It checks ``X-Forewarn-Signature`` (``v1=`` HMAC-SHA256 over ``timestamp + "." + body``) with
the shared secret and refuses timestamps older than 5 minutes; a bad signature gets 401. It
keeps one delivery per ``Idempotency-Key`` (as a careful receiver does) and counts repeats.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.channels.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from shared.standins.stand_in import Answer, Recorded, StandIn

SECRET = "fake-webhook-signing-secret-0000"
MAX_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Delivery:
    idempotency_key: str
    document: Any
    verified: bool


class WebhookStandIn(StandIn):
    name = "webhook"

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self.repeats = 0
        self._deliveries_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/maintenance"

    def forget(self) -> None:
        with self._deliveries_lock:
            self.deliveries.clear()
            self.repeats = 0

    def answer(self, request: Recorded) -> Answer:
        if len(request.body) > MAX_BYTES:
            return Answer.json(413, {"error": "payload_too_large"})
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        verified = verify(self.secret.encode("utf-8"), timestamp, request.body, signature)
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= TOLERANCE_SECONDS
        if not (verified and fresh):
            return Answer.json(401, {"error": "bad_signature"})
        try:
            document = request.json()
        except ValueError:
            return Answer.json(400, {"error": "invalid_json"})
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        with self._deliveries_lock:
            if any(delivery.idempotency_key == key for delivery in self.deliveries):
                self.repeats += 1
                return Answer.json(200, {"status": "duplicate"})
            self.deliveries.append(Delivery(key, document, verified))
        return Answer.json(200, {"status": "accepted"})
