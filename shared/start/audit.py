"""The ``actionaudit`` table: one row per thing that happened to a Start link, and a log line.

    kind        when
    viewed      the confirm page was shown (a GET: a person, or a mail gateway's scanner)
    confirmed   the person confirmed (a POST) and every check passed; ARM is called next
    refused     a check said no, on the page or at confirming (``reason`` says which)
    outcome     what ARM's long-running operation ended with, and the VMs' last result code
    observed    a step whose outcome was not recorded was seen finished by a later check

Partition: the wave's tracking id, so a wave's rows are one query (``rows_of``). Row key: the
moment, then the writer's clock, so rows list in the order they happened. Rows carry who, what,
which VMs, the receiver, the result and the reason; never the token (a row names the token by
its digest, as ``actionsused`` does) and nothing secret.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.storage import EntityTable, table_key
from shared.telemetry import get_logger
from shared.timeutil import format_utc
from shared.wave.board import AuditRow as BoardAuditRow

log = get_logger("forewarn.start.audit")

AuditKind = Literal["viewed", "confirmed", "refused", "outcome", "observed"]
NO_WAVE = "-"  # partition of rows whose link named no wave (a forged or broken one)


@dataclass(frozen=True)
class AuditRow:
    wave: str
    kind: AuditKind
    at: str  # ISO 8601 UTC
    who: str  # the signed-in name or Slack user id; "" when nobody is known
    action: str  # "start"
    step: str  # the plan step as the message named it
    vms: tuple[str, ...]
    receiver: str
    result: str  # ok, refused code, Succeeded / Failed / still_running, …
    reason: str = ""
    link: str = ""  # the token's digest (``used_key``), to tie a link's rows together
    via: str = "link"  # "link" or "slack"
    codes: dict[str, str] = field(default_factory=dict)  # VM id -> lastOperationResultCode

    def to_entity(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "who": self.who,
            "action": self.action,
            "step": self.step,
            "vms": "\n".join(self.vms),
            "receiver": self.receiver,
            "result": self.result,
            "reason": self.reason[:2000],
            "link": self.link,
            "via": self.via,
            "codes": "\n".join(f"{vm}={code}" for vm, code in self.codes.items()),
        }

    @classmethod
    def from_entity(cls, wave: str, entity: dict[str, Any]) -> AuditRow:
        codes = {}
        for line in str(entity.get("codes") or "").splitlines():
            vm, _, code = line.rpartition("=")
            if vm:
                codes[vm] = code
        return cls(
            wave=wave,
            kind=entity["kind"],
            at=str(entity["at"]),
            who=str(entity.get("who") or ""),
            action=str(entity.get("action") or "start"),
            step=str(entity.get("step") or ""),
            vms=tuple(v for v in str(entity.get("vms") or "").splitlines() if v),
            receiver=str(entity.get("receiver") or ""),
            result=str(entity.get("result") or ""),
            reason=str(entity.get("reason") or ""),
            link=str(entity.get("link") or ""),
            via=str(entity.get("via") or "link"),
            codes=codes,
        )


class AuditTrail:
    """Writes and reads the ``actionaudit`` rows of each wave."""

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def write(self, row: AuditRow) -> None:
        # The row's moment, then the writing clock's nanoseconds: rows of one second (a page
        # view and its confirm) list in the order they were written.
        moment = row.at.replace(":", "").replace("-", "")
        key = f"{moment}-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}"
        self._table.upsert(table_key(row.wave or NO_WAVE), key, row.to_entity())
        # One line per row, the same facts: a log search finds what the table holds.
        log.info(
            "start %s: wave=%s step=%r vms=%s receiver=%s who=%s via=%s result=%s reason=%r",
            row.kind,
            row.wave or NO_WAVE,
            row.step,
            ",".join(vm.rsplit("/", 1)[-1] for vm in row.vms),
            row.receiver,
            row.who or "-",
            row.via,
            row.result,
            row.reason,
        )

    def rows_of(self, wave: str) -> list[AuditRow]:
        """A wave's rows, oldest first."""
        entities = sorted(
            self._table.query(table_key(wave or NO_WAVE)), key=lambda e: str(e["RowKey"])
        )
        return [AuditRow.from_entity(wave, entity) for entity in entities if "kind" in entity]


def started_steps(rows: Iterable[AuditRow]) -> list[tuple[AuditRow, AuditRow | None]]:
    """Each confirmed start with its ending (an ``outcome`` or ``observed`` row of the same
    link; ``None`` while none is recorded), in the order they were confirmed. A confirmation
    whose outcome says nothing started (Azure refused, or asked to wait) is no start."""
    rows = list(rows)
    steps: list[tuple[AuditRow, AuditRow | None]] = []
    for index, row in enumerate(rows):
        if row.kind != "confirmed":
            continue
        # Its own outcome: the first of its link written after it (a link may be confirmed
        # again after a "not started").
        ends = [
            other
            for other in rows[index + 1 :]
            if other.kind in ("outcome", "observed") and other.link == row.link
        ]
        end = ends[0] if ends else None
        if end is not None and end.result == "not_started":
            continue
        if end is not None and end.result == "still_running":
            later = [other for other in ends[1:] if other.kind == "observed"]
            end = later[0] if later else None
        steps.append((row, end))
    return steps


def now_text(now: datetime) -> str:
    return format_utc(now)


def board_rows(rows: Iterable[AuditRow]) -> list[BoardAuditRow]:
    """The rows as ``forewarn wave show`` lists them: one per VM of each row."""
    found: list[BoardAuditRow] = []
    for row in rows:
        for vm in row.vms:
            found.append(
                BoardAuditRow(
                    vm_id=vm,
                    at=row.at,
                    by=row.who or "(nobody signed in)",
                    action=f"start now ({row.step}, via {row.via})",
                    outcome=_told(row, vm),
                )
            )
    return found


def _told(row: AuditRow, vm: str) -> str:
    if row.kind == "viewed":
        return "page viewed: " + (
            "would start" if row.result == "ok" else f"refused ({row.result})"
        )
    if row.kind == "confirmed":
        return "confirmed; performMaintenance sent"
    if row.kind == "refused":
        return f"refused ({row.result}): {row.reason}"
    code = row.codes.get(vm, "unknown")
    if row.kind == "observed":
        return f"seen finished later; last result {code}"
    return f"{row.result}; last result {code}"
