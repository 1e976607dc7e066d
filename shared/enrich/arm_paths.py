"""ARM request paths that no client or server can read as another path.

A value forewarn puts into an ARM URL came from outside (a tracking id, a subscription, a VM
name), so it goes in as exactly one percent-encoded segment, and a whole path is refused when
normalising it would change it. The id syntax itself is ``shared.parsing.resource_id``.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from shared.enrich.errors import ArmRequestError


class UnsafePathError(ArmRequestError):
    """A value that cannot be one segment of an ARM path, or a path a server would rewrite.

    An ``ArmRequestError``: what enrichment makes of a request ARM would refuse (a note)."""


def path_segment(value: str) -> str:
    """``value`` percent-encoded as exactly one ARM path segment.

    Encoding alone is not enough: ``.`` and ``..`` are unreserved characters, which HTTP
    clients (requests among them) and servers resolve as dot segments, and some servers decode
    ``%2F`` or read ``\\`` as ``/``. No ARM name holds a slash, so such a value is refused.
    """
    decoded = unquote(value)
    if decoded in ("", ".", "..") or any(c in decoded for c in "/\\"):
        raise UnsafePathError(f"{value[:200]!r} cannot be one ARM path segment")
    try:
        return quote(value, safe="")
    except UnicodeEncodeError as error:  # a lone surrogate is not text, so not a name
        raise UnsafePathError(f"{value[:200]!r} is not text") from error


def check_path(url: str) -> None:
    """Raise ``UnsafePathError`` unless any server reads ``url``'s path exactly as written.

    Dot segments (escaped ones too: clients unescape ``%2e``), backslashes and escaped slashes
    let a path built from one subscription's prefix name another once normalised.
    """
    path = urlsplit(url).path
    for segment in path.split("/"):
        decoded = unquote(segment)
        if decoded in (".", "..") or any(c in decoded for c in "/\\"):
            raise UnsafePathError(f"ARM path would be rewritten: {path[:200]!r}")
