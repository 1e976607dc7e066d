"""KQL with parameters bound as data, never spliced into the query text.

The Log Analytics query API takes a query string and a time span, and no separate parameters.
So every value a query needs (subscription ids, VM ids, windows) travels as one JSON document,
base64-encoded, in the query's first statement::

    // forewarn: catch-up
    let p = parse_json(base64_decode_tostring('eyJzdWJzY3JpcHRpb25zIjogWy4uLl19'));
    <the constant template, which reads p.subscriptions, p.vm_ids, ...>

Base64's alphabet has no quote, backslash, pipe or newline, so no value, whatever a payload or
a setting holds, can end the string literal and become KQL. Times go in the request's
``timespan`` (the API applies it to ``TimeGenerated``), not in the text at all. The template is a
module constant, so the only part of the text that ever varies is the base64 blob (a test
checks exactly that).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PARAMETERS_LINE: Final = "let p = parse_json(base64_decode_tostring('{blob}'));"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
_MARKER = re.compile(r"^// forewarn: ([a-z0-9-]+)\n")
_BLOB = re.compile(r"base64_decode_tostring\('([A-Za-z0-9+/=]*)'\)")


@dataclass(frozen=True)
class KqlQuery:
    """A named constant template and the parameters it reads as ``p.<name>``."""

    name: str
    template: str
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"query name must be lower-case letters, digits, '-': {self.name!r}")

    @property
    def blob(self) -> str:
        document = json.dumps(self.parameters, sort_keys=True, separators=(",", ":"))
        return base64.b64encode(document.encode("utf-8")).decode("ascii")

    def text(self) -> str:
        return "\n".join(
            [f"// forewarn: {self.name}", PARAMETERS_LINE.format(blob=self.blob), self.template]
        )


def read_parameters(text: str) -> tuple[str, dict[str, Any]]:
    """The name and parameters of a query text made by ``KqlQuery.text`` (stand-ins, tests)."""
    marker = _MARKER.match(text)
    blob = _BLOB.search(text)
    if marker is None or blob is None:
        raise ValueError("not a forewarn query: no marker or parameter line")
    document = json.loads(base64.b64decode(blob.group(1), validate=True).decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("parameters are not a JSON object")
    return marker.group(1), document
