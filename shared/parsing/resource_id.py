"""ARM resource ids: the one place that says which subscription, group and VM an id names.

Every VM forewarn reads is named by an id that came from outside: an alert payload, a command
line, an ARM answer. An unanchored search would find ``/subscriptions/OTHER/…`` anywhere in a
string (``x/subscriptions/OTHER/…``, a management-group scope, a query string) and point
forewarn's identity at a subscription nobody listed. So an id is only taken when the whole of
it is one: it starts with ``/subscriptions/``, every segment is a plain name (no ``.``/``..``,
no ``%``-escapes, no query or fragment), and ``…/virtualMachines/{name}`` comes in the fixed
place. What follows the VM name (``/extensions/x``, ``/instanceView``) still names that VM.

The segment case is kept as written (ARM ids compare case-insensitively; ``key`` is the form
to compare). This is syntax, so it sits with the rest of parsing, below everything that reads
ids (ingest's identifier checks, enrichment, the wave's records); making a value safe as one
segment of an ARM request path is enrichment's (``shared.enrich.arm_paths``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

# A plain name: no dot segment, and none of what a client or server splits, decodes or
# normalises a path on (``?#%``, a backslash, which some servers read as ``/``, whitespace).
SEGMENT: Final = r"(?!\.\.?(?:/|$))[^/\\?#%\s]+"
_VM_ID: Final = re.compile(
    rf"^/subscriptions/({SEGMENT})/resourceGroups/({SEGMENT})/providers/Microsoft\.Compute"
    rf"/virtualMachines/({SEGMENT})(?P<rest>(?:/{SEGMENT})*)/?$",
    re.IGNORECASE,
)
# An instance of a Uniform scale set: not a ``virtualMachines`` resource of its own, so no VM id
# names it (IMDS gives this id to the software inside it; Flexible instances have VM ids).
_SCALE_SET_INSTANCE_ID: Final = re.compile(
    rf"^/subscriptions/({SEGMENT})/resourceGroups/({SEGMENT})/providers/Microsoft\.Compute"
    rf"/virtualMachineScaleSets/({SEGMENT})/virtualMachines/({SEGMENT})/?$",
    re.IGNORECASE,
)
_SUBSCRIPTION_PATH: Final = re.compile(rf"^/subscriptions/({SEGMENT})(?:/|$)", re.IGNORECASE)
_MENTIONS_VM: Final = re.compile(r"/providers/Microsoft\.Compute/virtualMachines/", re.IGNORECASE)


@dataclass(frozen=True)
class VmId:
    subscription_id: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{self.name}"
        )

    @property
    def key(self) -> str:
        return self.id.lower()


def parse_vm_id(text: str) -> VmId | None:
    """The VM a well-formed ARM id names (itself or a child of it), else ``None``."""
    match = _VM_ID.match(text)
    if match is None:
        return None
    return VmId(match.group(1), match.group(2), match.group(3))


@dataclass(frozen=True)
class ScaleSetInstanceId:
    subscription_id: str
    resource_group: str
    scale_set: str
    instance_id: str


def parse_scale_set_instance_id(text: str) -> ScaleSetInstanceId | None:
    """The Uniform scale set instance a well-formed ARM id names (itself only), else ``None``."""
    match = _SCALE_SET_INSTANCE_ID.match(text)
    if match is None:
        return None
    return ScaleSetInstanceId(match.group(1), match.group(2), match.group(3), match.group(4))


def mentions_vm(text: str) -> bool:
    """Whether text looks meant to name a VM (to tell a malformed VM id from another resource)."""
    return bool(_MENTIONS_VM.search(text))


def subscription_of_url(url: str) -> str | None:
    """The subscription an ARM request URL (or path) is scoped to, lower-cased; else ``None``."""
    match = _SUBSCRIPTION_PATH.match(urlsplit(url).path)
    return match.group(1).lower() if match else None


def vm_of_url(url: str) -> VmId | None:
    """The VM an ARM request URL (or path) is about: the per-VM throttling bucket it draws on."""
    return parse_vm_id(urlsplit(url).path)
