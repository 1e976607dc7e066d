"""The checks a Start press must pass, made again at the moment it counts, then the start.

``check`` runs on the confirm page (GET: it shows exactly what would happen, or why not) and
again when the person confirms (POST, ``start``); nothing is carried from one to the other.
In order, cheapest and least revealing first:

    feature_off       FOREWARN_ENABLE_START_FROM_MESSAGE is not set
    not_signed_in     nobody is known (no sign-in in front of the page, or none trusted)
    not_on_list       the person is not on the receiver's ``start_from_message`` allow-list
    already_started   this step was started (from a message) before
    step_running      another step of the wave is still in maintenance
    too_early         another step ended less than 30 minutes ago (Azure's own spacing
                      between update domains, AZURE_MINIMUM_GAP_MINUTES)
    vm_gone           a VM of the step no longer exists (or cannot be read)
    nothing_planned   no maintenance is planned for a VM now (done, or never)
    already_done      a VM's last result says its maintenance completed
    not_allowed_now   Azure does not allow starting it now (isCustomerInitiatedMaintenanceAllowed)
    not_advised       forewarn's advice for a VM is not "start it yourself"

Each VM is read fresh from ARM (instance view, no cache) and its advice worked out as for every
message (``readings.describe_vms``). Then ``start`` calls ``performMaintenance`` for each VM of
the step (a long-running operation each), follows each to its end for at most
``follow_seconds`` (an HTTP request cannot wait for a maintenance of half an hour: App
Service's front end ends a request after 230 s), reads the VMs again and reports Azure's
``lastOperationResultCode`` for each. ARM answering 409 (not allowed after all), 429 (asked to
wait longer than the client retries) or an operation that ends Failed are outcomes, never
exceptions; a refusal or an ARM error before anything started lets the link be used again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared.enrich.arm import api_version
from shared.enrich.errors import (
    ArmError,
    ArmNotFoundError,
    ArmOperationError,
    ArmOperationTimeoutError,
    ArmThrottledError,
    EnrichError,
)
from shared.enrich.instance_view import VmReading, VmRef
from shared.enrich.pacing import Operation
from shared.enrich.plan import AZURE_MINIMUM_GAP_MINUTES
from shared.enrich.readings import describe_vms, shutdown_schedules
from shared.enrich.services import EnrichmentServices
from shared.models import VirtualMachine
from shared.parsing.resource_id import parse_vm_id
from shared.start.audit import AuditRow, AuditTrail, started_steps
from shared.timeutil import format_utc, parse_utc
from shared.wave.records import RecordStore

log = logging.getLogger(__name__)

COMPLETED = "MaintenanceCompleted"
MAX_PARALLEL = 5  # the VMs of one step (a Start link names at most five)

OutcomeResult = Literal["Succeeded", "Failed", "still_running", "refused", "not_started"]


class StartError(Exception):
    """Base class of Start failures."""


class StartRefusedError(StartError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class StartRequest:
    """One press: which wave, step and VMs (from a signed link or a Slack button), for which
    receiver, by whom, and which link (its digest) it came from."""

    wave: str
    step: str
    vm_ids: tuple[str, ...]
    receiver: str
    person: str
    link: str = ""
    via: str = "link"


@dataclass(frozen=True)
class VmNow:
    """A VM as just read: what the page shows about it."""

    vm_id: str
    name: str
    window_end: str | None = None
    last_result: str | None = None


@dataclass(frozen=True)
class StartCheck:
    code: str  # "ok" or a refusal code (module docstring)
    reason: str  # for people: why not, or what will happen
    vms: list[VmNow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code == "ok"


@dataclass(frozen=True)
class StartOutcome:
    result: OutcomeResult
    text: str  # for people, one paragraph
    codes: dict[str, str] = field(default_factory=dict)  # VM id -> lastOperationResultCode
    code: str = ""  # the refusal or ARM error code, when there is one
    # VM id -> its own result: a step's VMs can end differently (start/notice.py tells each)
    results: dict[str, OutcomeResult] = field(default_factory=dict)


def vm_name(vm_id: str) -> str:
    parsed = parse_vm_id(vm_id)
    return parsed.name if parsed is not None else vm_id.rsplit("/", 1)[-1]


def names_of(vm_ids: tuple[str, ...] | list[str]) -> str:
    return ", ".join(vm_name(vm_id) for vm_id in vm_ids)


_AGAINST = {
    "let_azure": "let Azure do it",
    "avoid_self_service": "do not start it yourself",
    "none": "no action needed",
}


class StartDesk:
    """Checks and starts one plan step at a time per wave, writing every step to the audit."""

    def __init__(
        self,
        services: EnrichmentServices,
        audit: AuditTrail,
        *,
        enabled: bool,
        may_start: Callable[[str, str], bool],
        records: RecordStore | None = None,
        follow_seconds: float = 200.0,
        poll_seconds: float = 15.0,
        spacing_minutes: int = AZURE_MINIMUM_GAP_MINUTES,
        notify: Callable[[StartRequest, StartOutcome, datetime], None] | None = None,
    ) -> None:
        self.services = services
        self.audit = audit
        self.enabled = enabled
        self._may_start = may_start
        self._records = records
        self.follow_seconds = follow_seconds
        self.poll_seconds = poll_seconds
        self.spacing = timedelta(minutes=spacing_minutes)
        self._notify = notify  # the outcome notice to the wave's receivers (notice.py)

    # -- the checks --------------------------------------------------------------------------

    def check(self, request: StartRequest, now: datetime) -> StartCheck:
        """What a press would do now, or the first reason it may not (reads ARM)."""
        try:
            vms = self._check(request, now)
        except StartRefusedError as refused:
            return StartCheck(refused.code, refused.reason, self._named(request))
        return StartCheck(
            "ok",
            f"Start maintenance of {names_of(request.vm_ids)} now ({request.step} of the "
            f"plan): each VM restarts on an updated host, the usual pause of the redeploy.",
            vms,
        )

    @staticmethod
    def _named(request: StartRequest) -> list[VmNow]:
        return [VmNow(vm_id, vm_name(vm_id)) for vm_id in request.vm_ids]

    def _check(self, request: StartRequest, now: datetime) -> list[VmNow]:
        if not self.enabled:
            raise StartRefusedError(
                "feature_off", "Start from the message is turned off in this forewarn."
            )
        if not request.person:
            raise StartRefusedError(
                "not_signed_in",
                "forewarn does not know who you are: no sign-in is set up in front of this "
                "page, so nobody may start maintenance from it.",
            )
        if not self._may_start(request.receiver, request.person):
            raise StartRefusedError(
                "not_on_list",
                f"{request.person} is not on the list of people who may start maintenance "
                f"for {request.receiver}.",
            )
        self._check_spacing(request, now)
        return self._check_vms(request)

    def _check_spacing(self, request: StartRequest, now: datetime) -> None:
        mine = {vm.lower() for vm in request.vm_ids}
        for confirmed, ended in started_steps(self.audit.rows_of(request.wave)):
            theirs = {vm.lower() for vm in confirmed.vms}
            if theirs & mine:
                raise StartRefusedError(
                    "already_started",
                    f"{names_of(confirmed.vms)}: maintenance was already started from a message "
                    f"at {confirmed.at} by {confirmed.who}.",
                )
            if ended is None:
                ended = self._observe(confirmed, now)
            if ended is None:
                raise StartRefusedError(
                    "step_running",
                    f"{confirmed.step} ({names_of(confirmed.vms)}) is still in maintenance "
                    f"(started {confirmed.at}); one step at a time.",
                )
            ready = parse_utc(ended.at) + self.spacing
            if now < ready:
                raise StartRefusedError(
                    "too_early",
                    f"{confirmed.step} ({names_of(confirmed.vms)}) finished at {ended.at}; "
                    f"Azure keeps at least {int(self.spacing.total_seconds() // 60)} minutes "
                    f"between steps, so this one may start from {format_utc(ready)}.",
                )
        self._check_started_elsewhere(request, mine)

    def _check_started_elsewhere(self, request: StartRequest, mine: set[str]) -> None:
        """A VM of the wave that someone started outside forewarn and is not done yet."""
        if self._records is None:
            return
        subscriptions = {
            parsed.subscription_id.lower()
            for vm_id in request.vm_ids
            if (parsed := parse_vm_id(vm_id)) is not None
        }
        for subscription in sorted(subscriptions):
            for record in self._records.of_subscription(subscription):
                if (
                    record.tracking_id == request.wave
                    and record.status == "self_service_started"
                    and record.vm_id.lower() not in mine
                ):
                    raise StartRefusedError(
                        "step_running",
                        f"{vm_name(record.vm_id)} of this wave was started (noticed "
                        f"{record.updated_at}) and is still in maintenance; one step at a time.",
                    )

    def _observe(self, confirmed: AuditRow, now: datetime) -> AuditRow | None:
        """A started step with no recorded end: read its VMs; if all are done, record when it
        was seen done, so the 30 minutes count from then (the real end is not known)."""
        try:
            readings = [
                self.services.reader.read(VmRef(vm_id), use_cache=False) for vm_id in confirmed.vms
            ]
        except (ArmError, EnrichError):
            return None  # cannot tell: still running, to be safe
        codes: dict[str, str] = {}
        for reading in readings:
            status = reading.vm.maintenance
            if status is not None and status.last_result_code != COMPLETED:
                return None
            codes[reading.vm.id] = status.last_result_code or "" if status else "gone"
        row = AuditRow(
            confirmed.wave,
            "observed",
            format_utc(now),
            "",
            "start",
            confirmed.step,
            confirmed.vms,
            confirmed.receiver,
            "Succeeded",
            "seen finished by a later check; its outcome had not been recorded",
            link=confirmed.link,
            via=confirmed.via,
            codes=codes,
        )
        self.audit.write(row)
        return row

    def _check_vms(self, request: StartRequest) -> list[VmNow]:
        readings: list[VmReading] = []
        for vm_id in request.vm_ids:
            try:
                readings.append(self.services.reader.read(VmRef(vm_id), use_cache=False))
            except ArmNotFoundError:
                raise StartRefusedError("vm_gone", f"{vm_name(vm_id)} no longer exists.") from None
            except (ArmError, EnrichError) as error:
                raise StartRefusedError(
                    "vm_gone", f"{vm_name(vm_id)} could not be read from Azure: {error}"
                ) from error
        found: list[VmNow] = []
        for reading in readings:
            vm = reading.vm
            status = vm.maintenance
            if status is None:
                raise StartRefusedError(
                    "nothing_planned",
                    f"{vm.name}: Azure reports no planned maintenance now (done, or not planned).",
                )
            if status.last_result_code == COMPLETED:
                raise StartRefusedError(
                    "already_done", f"{vm.name}: its maintenance has already completed."
                )
            if not status.self_service_allowed:
                raise StartRefusedError(
                    "not_allowed_now",
                    f"{vm.name}: Azure does not allow starting its maintenance now "
                    f"(self-service window {status.self_service_window.start or '?'} to "
                    f"{status.self_service_window.end or '?'}).",
                )
            found.append(
                VmNow(vm.id, vm.name, status.self_service_window.end, status.last_result_code)
            )
        self._check_advice(readings)
        return found

    def _check_advice(self, typed: list[VmReading]) -> None:
        shutdown, _ = shutdown_schedules(
            (reading.vm.subscription_id for reading in typed), self.services
        )
        described, _ = describe_vms(typed, self.services, shutdown)
        by_id = {vm.id.lower(): vm for vm in described}
        for reading in typed:
            vm: VirtualMachine | None = by_id.get(reading.vm.id.lower())
            if vm is None or vm.advice.action != "self_service":
                action = vm.advice.action if vm is not None else "unknown"
                why = " ".join(r.text.rstrip(".") + "." for r in vm.advice.reasons) if vm else ""
                raise StartRefusedError(
                    "not_advised",
                    f"{reading.vm.name}: forewarn's advice is to "
                    f"{_AGAINST.get(action, action)}, not to start it yourself. {why}".strip(),
                )

    # -- the start ---------------------------------------------------------------------------

    def start(
        self, request: StartRequest, now: datetime, follow_seconds: float | None = None
    ) -> StartOutcome:
        """Check again, then start every VM of the step and follow each to its end (for
        ``follow_seconds``, default the desk's; 0: start and report it under way)."""
        check = self.check(request, now)
        if not check.ok:
            self.record(request, "refused", now, check.code, check.reason)
            return StartOutcome("refused", check.reason, code=check.code)
        self.record(request, "confirmed", now, "ok", check.reason)
        began = time.monotonic()
        with ThreadPoolExecutor(
            max_workers=min(len(request.vm_ids), MAX_PARALLEL), thread_name_prefix="forewarn-start"
        ) as pool:
            follow = self.follow_seconds if follow_seconds is None else follow_seconds
            results = list(pool.map(lambda vm_id: self._start_one(vm_id, follow), request.vm_ids))
        codes = self._last_results(request.vm_ids)
        outcome = _summarise(request, results, codes)
        # The outcome's moment: ``now`` plus the time the operation took (one clock for
        # every row of a press, so the rows list in the order they happened).
        ended = now + timedelta(seconds=time.monotonic() - began)
        self.record(request, "outcome", ended, outcome.result, outcome.text, codes=codes)
        if self._notify is not None:
            try:
                self._notify(request, outcome, ended)
            except Exception as error:  # the start happened; the page and the audit say so
                log.warning("start: the outcome notice could not be queued: %s", error)
        return outcome

    def _start_one(self, vm_id: str, follow: float) -> tuple[str, OutcomeResult, str, str]:
        """(VM id, result, text, ARM code) for one VM."""
        try:
            self.services.arm.post_and_wait(
                f"{vm_id}/performMaintenance",
                Operation.VM_UPDATE,
                params={"api-version": api_version("Microsoft.Compute")},
                timeout_seconds=follow,
                default_poll_seconds=self.poll_seconds,
            )
        except ArmOperationTimeoutError:
            return vm_id, "still_running", "still running when forewarn stopped waiting", ""
        except ArmOperationError as error:
            return vm_id, "Failed", f"the operation failed: {error}", error.code or ""
        except ArmThrottledError as error:
            wait = f"{error.retry_after:.0f} s" if error.retry_after else "a while"
            return (
                vm_id,
                "not_started",
                f"Azure is busy (throttled) and asked to wait {wait}; nothing was started",
                "TooManyRequests",
            )
        except ArmError as error:
            if error.status == 409:
                why = f"Azure refused to start it now ({error.code or 'Conflict'})"
            else:
                why = f"Azure answered an error: {error}"
            return vm_id, "not_started", why + "; nothing was started", error.code or ""
        except Exception as error:  # this VM's outcome; the others still report
            log.warning("start of %s failed", vm_id, exc_info=error)
            return vm_id, "not_started", f"{type(error).__name__}: {error}", ""
        return vm_id, "Succeeded", "maintenance completed", ""

    def _last_results(self, vm_ids: tuple[str, ...]) -> dict[str, str]:
        """Each VM's ``lastOperationResultCode`` as Azure reports it after the operation."""
        codes: dict[str, str] = {}
        for vm_id in vm_ids:
            try:
                status = self.services.reader.read(VmRef(vm_id), use_cache=False).vm.maintenance
            except (ArmError, EnrichError):
                codes[vm_id] = "unknown (could not read the VM)"
                continue
            if status is None:
                codes[vm_id] = "none reported (no maintenance is planned any more)"
            else:
                codes[vm_id] = status.last_result_code or "None"
        return codes

    def record(
        self,
        request: StartRequest,
        kind: Literal["viewed", "confirmed", "refused", "outcome"],
        now: datetime,
        result: str,
        reason: str,
        codes: dict[str, str] | None = None,
    ) -> None:
        self.audit.write(
            AuditRow(
                request.wave,
                kind,
                format_utc(now),
                request.person,
                "start",
                request.step,
                request.vm_ids,
                request.receiver,
                result,
                reason,
                link=request.link,
                via=request.via,
                codes=codes or {},
            )
        )

    def viewed(self, request: StartRequest, check: StartCheck, now: datetime) -> None:
        """The confirm page was shown (with what it said)."""
        self.record(request, "viewed", now, check.code, check.reason)


def _summarise(
    request: StartRequest,
    results: list[tuple[str, OutcomeResult, str, str]],
    codes: dict[str, str],
) -> StartOutcome:
    kinds = {result for _, result, _, _ in results}
    lines = [
        f"{vm_name(vm_id)}: {text}; last result {codes.get(vm_id, 'unknown')}."
        for vm_id, _, text, _ in results
    ]
    result: OutcomeResult
    if kinds == {"Succeeded"}:
        result = "Succeeded"
    elif "Failed" in kinds:
        result = "Failed"
    elif "still_running" in kinds:
        result = "still_running"
    elif kinds == {"not_started"}:
        result = "not_started"
    else:
        result = "Failed"
    code = next((code for _, _, _, code in results if code), "")
    head = {
        "Succeeded": f"Maintenance of {request.step} completed.",
        "Failed": f"Maintenance of {request.step} did not complete.",
        "still_running": (
            f"Maintenance of {request.step} is under way; the sweep reports when Azure says "
            "it is done."
        ),
        "not_started": f"Maintenance of {request.step} was not started.",
        "refused": "",
    }[result]
    each = {vm_id: one for vm_id, one, _, _ in results}
    return StartOutcome(result, " ".join([head, *lines]), codes, code, each)
