"""Bytes to a JSON document that every later stage can carry, or ``InvalidJsonError``.

Python's decoder accepts more than JSON and fails in more ways than ``JSONDecodeError``:

- ``NaN``, ``Infinity`` and numbers such as ``1e999`` (which become ``inf``) are not JSON; a
  queue message holding them is not JSON either.
- An integer of more than 4,300 digits raises a plain ``ValueError`` whose text tells the
  sender to call ``sys.set_int_max_str_digits()``; such a number is refused here first, in
  forewarn's words ("number too long").
- ``"\\ud800"`` is valid JSON but not text: it can never be encoded into a queue message.
- Nesting deep enough raises ``RecursionError``, here or later in schema checks; no alert
  nests anywhere near ``MAX_DEPTH``, so deeper documents are refused up front, by pointer.
- A long array costs schema validation one problem per bad item (125,000 ``1``s fit in
  256 KiB and took about 3 s to refuse); no alert holds an array anywhere near
  ``MAX_ARRAY_ITEMS``, so a longer one is refused up front, by pointer, before its items are
  looked at.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NoReturn

from shared.parsing.errors import ROOT, InvalidJsonError, Problem
from shared.parsing.validate import pointer

MAX_DEPTH: Final = 32  # the samples nest 6 deep; impactedServices adds 3
# Azure's own lists are short: alertTargetIDs names one subscription or resource, an
# impactedServices entry a handful of regions. A thousand leaves room for any real alert.
MAX_ARRAY_ITEMS: Final = 1_000
# Python refuses to convert longer digit strings (sys.get_int_max_str_digits()); no alert
# field is a number anywhere near this long.
MAX_INTEGER_DIGITS: Final = 4_300
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _not_json_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range")
    return number


def _bounded_int(text: str) -> int:
    digits = len(text) - (1 if text.startswith("-") else 0)
    if digits > MAX_INTEGER_DIGITS:
        raise ValueError(f"number too long ({digits} digits; at most {MAX_INTEGER_DIGITS})")
    return int(text)


def loads(text: str, where: str = ROOT) -> Any:
    """Strict JSON text to a document, every failure an ``InvalidJsonError`` at ``where``."""
    try:
        document = json.loads(
            text,
            parse_constant=_not_json_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as error:
        raise InvalidJsonError(
            [Problem(where, f"is not valid JSON at line {error.lineno} column {error.colno}")]
        ) from error
    except RecursionError as error:
        raise InvalidJsonError([Problem(where, "nests deeper than any alert does")]) from error
    except ValueError as error:  # huge integers, NaN, Infinity, 1e999
        raise InvalidJsonError([Problem(where, f"is not valid JSON: {error}")]) from error
    if _SURROGATE_ESCAPE.search(text):
        # Only text with such an escape pays for this second serialisation.
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidJsonError(
                [Problem(where, "holds a lone surrogate escape, which is not text")]
            ) from error
    check_shape(document, where)
    return document


def decode_body(body: bytes) -> Any:
    """An HTTP body (UTF-8 JSON) to a document."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJsonError(
            [Problem(ROOT, f"body is not valid UTF-8 at byte {error.start}")]
        ) from error
    return loads(text)


def check_shape(
    document: Any, where: str = ROOT, limit: int = MAX_DEPTH, max_items: int = MAX_ARRAY_ITEMS
) -> None:
    """Raise ``InvalidJsonError`` at the first place nested more than ``limit`` deep, or at
    the first array of more than ``max_items`` items.

    Iterative, so that the check itself cannot run out of stack."""
    base = "" if where == ROOT else where
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            children: Any = value.items()
        elif isinstance(value, list):
            if len(value) > max_items:
                raise InvalidJsonError(
                    [
                        Problem(
                            pointer(base, *path) or ROOT,
                            f"has {len(value)} items; no alert has more than {max_items}",
                        )
                    ]
                )
            children = enumerate(value)
        else:
            continue
        if len(path) >= limit:
            raise InvalidJsonError(
                [Problem(pointer(base, *path) or ROOT, f"nests deeper than {limit} levels")]
            )
        stack.extend((child, (*path, key)) for key, child in children)
