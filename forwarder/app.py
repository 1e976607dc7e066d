"""Posting to the forewarn app: signed, and telling a retryable failure from a refusal."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from forwarder import DeliveryError, RefusedError

SIGNATURE_HEADER = "X-Forewarn-Signature"
TIMESTAMP_HEADER = "X-Forewarn-Timestamp"
_TIMEOUT = 10.0


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 over the timestamp, a dot and the body, as forewarn's webhooks."""
    digest = hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


class AppClient:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self._key = key.encode("utf-8")

    def post(self, document: dict[str, Any]) -> None:
        body = json.dumps(document, sort_keys=True).encode("utf-8")
        # Signed at each attempt: a post kept in the outbox over a restart gets a fresh stamp.
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 (the app's configured address)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._key, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode("utf-8", "replace")
            if error.code == 400:
                raise RefusedError(f"the app refused the post (400): {detail}") from error
            # 401/403 too: a key being rotated starts working again without a restart.
            raise DeliveryError(f"the app answered {error.code}: {detail}") from error
        except (urllib.error.URLError, OSError) as error:
            raise DeliveryError(f"the app at {self.url} did not answer: {error}") from error
