"""Azure's guidance on self-service maintenance, as codes and sourced texts.

Everything here restates "Handling planned maintenance notifications"
(learn.microsoft.com/azure/virtual-machines/maintenance-notifications): the section "Should you
start maintenance during the self-service window?" and its FAQ. Each text carries its source,
so a message that shows it cites it.

Codes are stable snake_case (tools and the webhook read them); the ``forewarn-advice`` tag
spells the same names in kebab-case (``resized-often``), and older spellings stay accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from shared.models import MaintenanceFact

NOTIFICATIONS_URL: Final = (
    "https://learn.microsoft.com/azure/virtual-machines/maintenance-notifications"
)
GUIDANCE_URL: Final = (
    f"{NOTIFICATIONS_URL}#should-you-start-maintenance-during-the-self-service-window"
)
FAQ_URL: Final = f"{NOTIFICATIONS_URL}#faq"

DEFAULT_ADVICE_TAG: Final = "forewarn-advice"
DEFAULT_GROUP_TAG: Final = "forewarn-group"
# The ``forewarn-advice`` value that says: none of the counter-indications apply.
NONE_APPLY: Final = "none"

SignalKind = Literal["avoid", "do"]

# The guidance's "don't" cases, in its order. forewarn sees some from the VM (an auto-shutdown
# schedule, DevTest Labs' tags, an ephemeral OS disk) and the rest only from the tag.
COUNTER_INDICATIONS: Final = (
    "scheduled_events",
    "temp_disk_state",
    "resized_often",
    "short_lived",
    "shut_down_often",
)
# The guidance's "do" cases.
REASONS_TO_SELF_SERVE: Final = ("exact_window", "must_finish_by", "ordered", "longer_gap")

# Tag value (kebab-case, as people write it) -> code. Older spellings first kept working.
TAG_VALUES: Final[Mapping[str, str]] = {
    **{code.replace("_", "-"): code for code in COUNTER_INDICATIONS + REASONS_TO_SELF_SERVE},
    "ephemeral-state": "temp_disk_state",
    "auto-shutdown": "shut_down_often",
    "announce-window": "exact_window",
    "finish-by": "must_finish_by",
    "control-order": "ordered",
}

# What forewarn can never see for itself, per counter-indication (shown as "seen").
UNSEEN: Final[Mapping[str, str]] = {
    "scheduled_events": "not visible to forewarn (Scheduled Events run inside the VM)",
    "temp_disk_state": "what the temporary disk holds is not visible to forewarn",
    "resized_often": "not visible to forewarn",
    "short_lived": "not visible to forewarn",
    "shut_down_often": "manual or scripted shutdowns are not visible to forewarn",
}

# Human names for a list: "resized often, short-lived".
NAMES: Final[Mapping[str, str]] = {
    "scheduled_events": "uses Scheduled Events",
    "temp_disk_state": "keeps state on its temporary disk",
    "resized_often": "resized often",
    "short_lived": "short-lived",
    "shut_down_often": "shut down often",
}

# Why each signal leads where it does; cited by the advice.
SIGNAL_TEXTS: Final[Mapping[str, str]] = {
    "scheduled_events": (
        "its workload already uses Scheduled Events (a 15-minute notice inside the VM) for "
        "graceful failover or shutdown; Azure's guidance is not to self-serve then"
    ),
    "temp_disk_state": (
        "it keeps state on its temporary (local) disk that must survive; self-service "
        "maintenance moves the VM to another host and that disk's content is lost"
    ),
    "resized_often": (
        "it is resized often, and a resize could revert its maintenance status (more "
        "downtime); Azure's guidance is not to self-serve VMs resized often"
    ),
    "short_lived": "it is short-lived and likely deleted before the maintenance wave ends",
    "shut_down_often": (
        "it is shut down often; shutting down or deallocating could revert its maintenance "
        "status (more downtime), so Azure's guidance is not to self-serve it"
    ),
    "exact_window": "you must announce an exact maintenance window to your users",
    "must_finish_by": "the maintenance must be finished by a given date",
    "ordered": "the order matters (multi-tier application): start each tier yourself",
    "longer_gap": "you need more than 30 minutes between update domains",
}


def cite(text: str, url: str = GUIDANCE_URL) -> str:
    """A sentence-cased text with its source, the way every reason and fact ends."""
    return f"{text[0].upper()}{text[1:]} (source: {url})"


def _fact(code: str, text: str) -> MaintenanceFact:
    return MaintenanceFact(
        code, cite(text, FAQ_URL if code != "update_domain_capacity" else GUIDANCE_URL)
    )


FACTS: Final[Mapping[str, MaintenanceFact]] = {
    fact.code: fact
    for fact in (
        _fact(
            "reboot_duration",
            "a reboot Azure starts in the scheduled window typically takes about 25 minutes; "
            "one started in the self-service window takes up to several minutes, depending on "
            "the VM size",
        ),
        _fact(
            "update_domain_capacity",
            "Azure updates an availability set or scale set one update domain at a time, at "
            "least 30 minutes apart: about 1/(number of update domains) of its capacity is down "
            "at once; if that matters, add instances for the maintenance period",
        ),
        _fact(
            "scheduled_events_notice",
            "inside the VM, Scheduled Events give a 15-minute notice before Azure reboots it, "
            "time for a graceful failover or shutdown",
        ),
        _fact(
            "status_can_revert",
            "deallocating (stop and start), resizing or an auto-shutdown can revert the "
            "maintenance status: the VM can be scheduled for maintenance again, with more "
            "downtime",
        ),
    )
}
