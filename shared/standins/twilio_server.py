"""A stand-in Twilio Messages API.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded ``To``, ``From`` or
``MessagingServiceSid``, ``Body``; HTTP basic auth SID:token) answers 201 with the Message
resource (https://www.twilio.com/docs/messaging/api/message-resource): ``sid`` ``SM…``,
``status`` ``queued``, ``num_segments``, dates in RFC 2822. Errors use Twilio's JSON:
``{"code": 21211, "message": …, "more_info": "https://www.twilio.com/docs/errors/21211",
"status": 400}`` (invalid To), 21617 (body over 1,600 characters), 20003 (authentication),
20429 (too many requests, with ``Retry-After``).
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from shared.standins.stand_in import Answer, Failure, Recorded, StandIn

ACCOUNT_SID = "AC" + "0" * 30 + "f1"
AUTH_TOKEN = "fake-twilio-auth-token-0000"
FROM_NUMBER = "+15005550006"  # Twilio's documented "valid From" test number
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
INVALID_NUMBERS = frozenset({"+15005550001"})  # Twilio's documented "invalid To" test number
MAX_BODY = 1600
_CODES = {400: 21211, 401: 20003, 403: 20008, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


@dataclass(frozen=True)
class Sms:
    sid: str
    to: str
    sender: str
    body: str


def _error(status: int, code: int, message: str, **headers: str) -> Answer:
    return Answer.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        **headers,
    )


class TwilioStandIn(StandIn):
    name = "twilio"

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Sms] = []
        self._messages_lock = threading.Lock()

    @property
    def api_base(self) -> str:
        return self.base_url

    def forget(self) -> None:
        with self._messages_lock:
            self.messages.clear()

    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        code = int(failure.error) if failure.error else _CODES.get(status, 20000 + status)
        return _error(status, code, "Scripted failure", **headers)

    def answer(self, request: Recorded) -> Answer:
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        if request.path != path:
            return _error(404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _error(401, 20003, "Authenticate")
        form = request.form()
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or form.get("MessagingServiceSid") or ""
        if not E164.match(to) or to in INVALID_NUMBERS:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return _error(400, 21603, "The 'From' phone number is required.")
        if len(body) > MAX_BODY:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sid = "SM" + uuid.uuid4().hex
        with self._messages_lock:
            self.messages.append(Sms(sid, to, sender, body))
        return Answer.json(201, self._resource(sid, to, sender, body))

    @staticmethod
    def _resource(sid: str, to: str, sender: str, body: str) -> dict[str, Any]:
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        gsm = all(ord(char) < 128 for char in body)
        per_segment = (160, 153) if gsm else (70, 67)
        segments = 1 if len(body) <= per_segment[0] else -(-len(body) // per_segment[1])
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}"
        return {
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender if sender.startswith("+") else None,
            "messaging_service_sid": None if sender.startswith("+") else sender,
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
