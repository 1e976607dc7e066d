"""Start from the message: a signed Start link against the ARM stand-in and real Azurite tables.

GIVEN a wave whose plan step names VMs of the stand-in fleet, a Start link for that step
      (signed as the route stage signs it), a person signed in (or not) and the ARM state below
WHEN  the link is fetched (GET) and confirmed (POST) through the ActionService
THEN  the page says what happened, the ``actionaudit`` table holds the row, and
      performMaintenance reached the stand-in exactly when it must (never on a refusal).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import names
from shared.actions import ActionPage, ActionService
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, FleetVm, redeploy_status, window_from
from shared.standins.arm_server import ArmStandIn
from shared.start.audit import NO_WAVE, AuditRow, AuditTrail
from shared.start.desk import StartDesk
from shared.start.principal import HEADER_NAME
from shared.storage import StorageServices
from shared.wave.actions import ActionLink, sign, used_key
from shared.wave.claims import ClaimStore
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

KEY = "action-link-key-for-start-tests"
NOW = datetime.now(UTC).replace(microsecond=0)
ALICE = {HEADER_NAME: "alice@contoso.com"}
BOB = {HEADER_NAME: "bob@contoso.com"}


def _vms(subscription: str) -> dict[str, FleetVm]:
    open_window = window_from(NOW - timedelta(days=1))
    closed = redeploy_status(
        NOW - timedelta(days=1),
        NOW + timedelta(days=5),
        NOW + timedelta(days=6),
        NOW + timedelta(days=7),
        allowed=False,
    )
    done = {**open_window, "lastOperationResultCode": "MaintenanceCompleted"}

    def vm(name: str, **kwargs: object) -> FleetVm:
        return FleetVm(subscription, "rg-db", name, maintenance=dict(open_window), **kwargs)  # type: ignore[arg-type]

    return {
        "sql-01": vm("sql-01"),
        "sql-02": vm("sql-02"),
        "web-av": vm("web-av", availability_set="as-web"),  # advised: let Azure do it
        "sql-closed": FleetVm(subscription, "rg-db", "sql-closed", maintenance=closed),
        "sql-done": FleetVm(subscription, "rg-db", "sql-done", maintenance=done),
        "sql-busy": vm("sql-busy", maintenance_conflict=True),
        "sql-throttled": vm("sql-throttled", maintenance_throttle=["120"]),
        "sql-fails": vm("sql-fails", maintenance_fails=True),
    }


@dataclass
class World:
    arm: ArmStandIn
    fleet: dict[str, FleetVm]
    audit: AuditTrail
    service: ActionService
    desk: StartDesk
    wave: str

    def token(self, *names_: str, step: str = "step 1", receiver: str = "ops") -> str:
        expires = int((NOW + timedelta(days=7)).timestamp())
        ids = tuple(self.fleet[name].id for name in names_)
        return sign(ActionLink("start", step, receiver, expires, self.wave, ids), KEY)

    def posts(self) -> int:
        return sum(
            1 for r in self.arm.requests if r.method == "POST" and "performMaintenance" in r.path
        )

    def rows(self) -> list[AuditRow]:
        return self.audit.rows_of(self.wave)

    def press(
        self, token: str, method: str = "POST", who: dict[str, str] | None = None, **kw: object
    ) -> ActionPage:
        now = kw.get("now", NOW)
        assert isinstance(now, datetime)
        return self.service.handle(method, token, b"", now, ALICE if who is None else who)


@pytest.fixture(scope="module")
def storage(azurite: Azurite) -> StorageServices:
    return StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})


@pytest.fixture
def world(storage: StorageServices) -> Iterator[World]:
    subscription = str(uuid.uuid4())
    vms = _vms(subscription)
    fleet = Fleet().add(*vms.values())
    with ArmStandIn(fleet) as arm:
        env = {names.SETTING_ARM_ENDPOINT: arm.base_url, names.SETTING_ARM_TOKEN: arm.token}
        audit = AuditTrail(storage.table(names.TABLE_ACTION_AUDIT))
        desk = StartDesk(
            EnrichmentServices.create(env),
            audit,
            enabled=True,
            may_start=lambda receiver, person: (receiver, person) == ("ops", "alice@contoso.com"),
            follow_seconds=20,
            poll_seconds=0,
        )
        service = ActionService(
            KEY,
            storage.table(names.TABLE_ACTIONS_USED),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
            desk,
            sign_in_trusted=True,
        )
        yield World(arm, vms, audit, service, desk, f"WAVE-{uuid.uuid4().hex[:8]}")


def _kinds(rows: list[AuditRow]) -> list[tuple[str, str]]:
    return [(row.kind, row.result) for row in rows]


# GIVEN the step's VMs, WHEN confirmed by Alice (on the list), THEN status, page, audit, POSTs.
REFUSED = [
    ("not advised", ("web-av",), 409, "not to start it yourself", "not_advised"),
    ("not allowed now", ("sql-closed",), 409, "does not allow starting", "not_allowed_now"),
    ("already done", ("sql-done",), 409, "already completed", "already_done"),
]


@pytest.mark.parametrize(
    ("case", "vms", "status", "says", "code"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_a_step_azure_or_the_advice_rules_out_is_refused_and_nothing_reaches_arm(
    world: World, case: str, vms: tuple[str, ...], status: int, says: str, code: str
) -> None:
    page = world.press(world.token(*vms))
    assert page.status == status, page.text
    assert says in page.text
    assert "Nothing was changed" in page.text
    assert _kinds(world.rows()) == [("refused", code)]
    assert world.rows()[0].who == "alice@contoso.com"
    assert world.posts() == 0
    # Refused: the link was not used up, it may be tried again later.
    assert world.service._used.get("used", used_key(world.token(*vms))) is None


def test_allowed_step_starts_follows_the_operation_and_reports_the_last_result(
    world: World,
) -> None:
    token = world.token("sql-01")
    page = world.press(token)
    assert page.status == 200, page.text
    assert page.title == "Maintenance completed"
    assert "sql-01: maintenance completed; last result MaintenanceCompleted." in page.text
    assert world.posts() == 1
    assert _kinds(world.rows()) == [("confirmed", "ok"), ("outcome", "Succeeded")]
    outcome = world.rows()[-1]
    assert outcome.codes == {world.fleet["sql-01"].id: "MaintenanceCompleted"}
    assert outcome.who == "alice@contoso.com"
    assert outcome.vms == (world.fleet["sql-01"].id,)


def test_the_page_re_reads_azure_at_confirming_not_the_message(world: World) -> None:
    token = world.token("sql-02")
    shown = world.press(token, "GET")
    assert shown.status == 200 and shown.form and not shown.ask_name
    assert "sql-02" in shown.text and "Nothing happens until you confirm" in shown.text
    # GIVEN Azure withdraws the self-service start between the page and the confirm
    world.fleet["sql-02"].maintenance = {
        **(world.fleet["sql-02"].maintenance or {}),
        "isCustomerInitiatedMaintenanceAllowed": False,
    }
    page = world.press(token)
    assert page.status == 409
    assert "does not allow starting" in page.text
    assert _kinds(world.rows()) == [("viewed", "ok"), ("refused", "not_allowed_now")]
    assert world.posts() == 0


def test_get_changes_nothing_and_is_an_audit_row(world: World) -> None:
    token = world.token("sql-01")
    for _ in range(2):  # a mail gateway's scanner, then the person
        page = world.press(token, "GET")
        assert page.status == 200
    assert world.posts() == 0
    assert _kinds(world.rows()) == [("viewed", "ok"), ("viewed", "ok")]
    assert world.service._used.get("used", used_key(token)) is None


def test_the_second_step_waits_30_minutes_after_the_first_ends(world: World) -> None:
    assert world.press(world.token("sql-01")).status == 200
    second = world.token("sql-02", step="step 2")
    early = world.press(second)
    assert early.status == 409
    assert "at least 30 minutes between steps" in early.text
    assert world.posts() == 1
    later = world.press(second, now=NOW + timedelta(minutes=31))
    assert later.status == 200, later.text
    assert world.posts() == 2
    assert _kinds(world.rows()) == [
        ("confirmed", "ok"),
        ("outcome", "Succeeded"),
        ("refused", "too_early"),
        ("confirmed", "ok"),
        ("outcome", "Succeeded"),
    ]


def test_a_step_still_in_maintenance_blocks_the_next(world: World) -> None:
    # GIVEN step 1 was confirmed but no outcome is recorded (the operation still runs)
    world.audit.write(
        AuditRow(
            world.wave,
            "confirmed",
            NOW.isoformat(),
            "alice@contoso.com",
            "start",
            "step 1",
            (world.fleet["sql-fails"].id,),
            "ops",
            "ok",
            link="earlier-link",
        )
    )
    page = world.press(world.token("sql-02", step="step 2"))
    assert page.status == 409
    assert "still in maintenance" in page.text
    assert world.posts() == 0


WHO = [
    # GIVEN who is pressing          THEN status  page says                       audit result
    ("not on the allow-list", BOB, 403, "is not on the list", "not_on_list"),
    ("nobody signed in", {}, 401, "does not know who you are", "not_signed_in"),
]


@pytest.mark.parametrize(("case", "who", "status", "says", "code"), WHO, ids=[w[0] for w in WHO])
def test_only_people_on_the_receivers_list_may_start(
    world: World, case: str, who: dict[str, str], status: int, says: str, code: str
) -> None:
    for method in ("GET", "POST"):
        page = world.press(world.token("sql-01"), method, who)
        assert page.status == status
        assert says in page.text
        assert not page.form
    assert _kinds(world.rows()) == [("viewed", code), ("refused", code)]
    assert world.posts() == 0
    assert world.arm.counts["requests"] == 0  # refused before any ARM read


def test_headers_are_not_trusted_without_the_sign_in_setting(
    world: World, storage: StorageServices
) -> None:
    service = ActionService(
        KEY,
        storage.table(names.TABLE_ACTIONS_USED),
        ClaimStore(storage.table(names.TABLE_CLAIMS)),
        world.desk,
        sign_in_trusted=False,
    )
    page = service.handle("POST", world.token("sql-01"), b"", NOW, ALICE)
    assert page.status == 401
    assert world.posts() == 0


def test_feature_off_refuses_every_start(world: World) -> None:
    world.desk.enabled = False
    page = world.press(world.token("sql-01"))
    assert page.status == 403
    assert "turned off" in page.text
    assert _kinds(world.rows()) == [("refused", "feature_off")]
    assert world.posts() == 0


def _forged(token: str, change: Callable[[dict[str, object]], None]) -> str:
    body, _, mac = token.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    change(payload)
    text = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{text}.{mac}"


def test_a_forged_link_is_refused_and_audited(world: World) -> None:
    # GIVEN a good link to start sql-01 whose VMs were changed to add web-av
    good = world.token("sql-01")
    forged = _forged(good, lambda p: p.update(v=[*p["v"], world.fleet["web-av"].id]))  # type: ignore[list-item]
    page = world.press(forged)
    assert page.status == 403
    assert world.posts() == 0
    rows = [row for row in world.audit.rows_of(NO_WAVE) if row.link == used_key(forged)]
    assert [(row.kind, row.result) for row in rows] == [("refused", "tampered")]


def test_a_replayed_link_does_nothing_the_second_time(world: World) -> None:
    token = world.token("sql-01")
    assert world.press(token).status == 200
    again = world.press(token)
    assert again.status == 410
    assert "already used" in again.title
    assert world.posts() == 1
    assert _kinds(world.rows())[-1] == ("refused", "replayed")


ARM_SAYS = [
    # GIVEN ARM answers         THEN status title                       says              audit
    (
        "409 conflict",
        "sql-busy",
        503,
        "was not started",
        "Azure refused to start it now (Conflict)",
        "not_started",
    ),
    (
        "429 wait 120 s",
        "sql-throttled",
        503,
        "was not started",
        "asked to wait 120 s",
        "not_started",
    ),
    (
        "failed operation",
        "sql-fails",
        502,
        "did not complete",
        "The host was not updated",
        "Failed",
    ),
]


@pytest.mark.parametrize(
    ("case", "vm", "status", "title", "says", "result"), ARM_SAYS, ids=[a[0] for a in ARM_SAYS]
)
def test_arm_refusing_throttling_or_failing_is_the_outcome_not_an_error(
    world: World, case: str, vm: str, status: int, title: str, says: str, result: str
) -> None:
    token = world.token(vm)
    page = world.press(token)
    assert page.status == status, page.text
    assert title in page.title
    assert says in page.text
    assert world.posts() == 1
    assert _kinds(world.rows()) == [("confirmed", "ok"), ("outcome", result)]
    used = world.service._used.get("used", used_key(token))
    # Nothing started: the link may be pressed again; a failed operation did start.
    assert (used is None) == (result == "not_started")


def test_a_short_throttle_is_retried_and_the_start_goes_through(world: World) -> None:
    world.fleet["sql-01"].maintenance_throttle = ["0"]
    page = world.press(world.token("sql-01"))
    assert page.status == 200, page.text
    assert world.posts() == 2  # the 429, then the retry


def test_wave_show_lists_what_people_did_from_the_message(
    world: World,
    azurite: Azurite,
    storage: StorageServices,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shared.cli import main
    from shared.models import VirtualMachine
    from shared.wave.records import MaintenanceRecord, TableRecordStore

    # GIVEN forewarn follows sql-01 in the wave, and Alice viewed then started it from a link
    sql = world.fleet["sql-01"]
    vm = VirtualMachine(sql.id, sql.name, sql.subscription_id, sql.resource_group, sql.location)
    records = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
    records.put(MaintenanceRecord.from_vm(vm, tracking_id=world.wave, now=NOW.isoformat()))
    token = world.token("sql-01")
    world.press(token, "GET")
    world.press(token, "POST")
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    # WHEN the board is shown
    assert main(["wave", "show", world.wave, "--timezone", "UTC"]) == 0
    text = capsys.readouterr().out
    # THEN each of Alice's steps is a line of sql-01
    assert "start now (step 1, via link) by alice@contoso.com: page viewed: would start" in text
    assert "confirmed; performMaintenance sent" in text
    assert "Succeeded; last result MaintenanceCompleted" in text


def test_the_outcome_is_told_in_the_waves_thread_as_a_started_maintenance(
    world: World, storage: StorageServices
) -> None:
    from shared.render import render_message
    from shared.routing.config import parse_config
    from shared.standins.arm_fleet import maintenance_event
    from shared.start.notice import outcome_event
    from shared.wave.records import TableRecordStore
    from tests.support.wave_setup import enrich_notice

    env = {
        names.SETTING_ARM_ENDPOINT: world.arm.base_url,
        names.SETTING_ARM_TOKEN: world.arm.token,
    }
    subscription = world.fleet["sql-01"].subscription_id
    # GIVEN forewarn announced the wave (its records are open)
    enrich_notice(storage, env, maintenance_event([subscription], tracking_id=world.wave))
    notices: list[Any] = []
    world.desk._notify = lambda request, outcome, now: notices.append(
        outcome_event(request, outcome, now)
    )
    # WHEN Alice starts step 1 from the link
    assert world.press(world.token("sql-01")).status == 200
    (event,) = notices
    # THEN the notice, through the real enrich stage, marks sql-01 started and says the outcome
    told = enrich_notice(storage, env, event)
    assert told.event.status == "Completed"  # the step ended Succeeded: sql-01 is done
    assert told.event.tracking_id == world.wave
    assert [vm.name for vm in told.vms] == ["sql-01"]
    assert "alice@contoso.com (Start now on ops's message) started step 1" in told.event.summary
    assert "last result MaintenanceCompleted" in told.event.summary
    assert "outside forewarn" not in told.event.summary
    record = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)).get(
        sql_id := world.fleet["sql-01"].id
    )
    assert record is not None and record.status == "completed", sql_id
    config = parse_config(
        "version: 1\nreceivers:\n  - {name: ops, type: webhook, targets: ['https://h.example/x'],"
        " options: {secret_setting: S}}\nroute: {receivers: [ops]}\n"
    )
    message = render_message(told, config.receivers["ops"], told.vms, NOW)
    assert "last result MaintenanceCompleted" in json.dumps(message.payload)


SIGN_IN = [
    # GIVEN serve is run with           and the request carries      THEN the page says
    ("--signed-in-as alice", ("--signed-in-as", "alice@contoso.com"), {}, 200, "Confirm"),
    (
        "--signed-in-as alice, mallory's header sent",
        ("--signed-in-as", "alice@contoso.com"),
        {"X-MS-CLIENT-PRINCIPAL-NAME": "mallory@contoso.com"},
        200,
        "Confirm",
    ),
    (
        "no sign-in, a forged header sent",
        (),
        {"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"},
        401,
        "does not know who you are",
    ),
]


@pytest.mark.parametrize(
    ("options", "headers", "status", "says"), [s[1:] for s in SIGN_IN], ids=[s[0] for s in SIGN_IN]
)
def test_serve_plays_app_service_authentication(
    world: World,
    azurite: Azurite,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
    headers: dict[str, str],
    status: int,
    says: str,
) -> None:
    import requests

    from shared.standins.served import served

    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "version: 1\nreceivers:\n  - {name: ops, type: webhook, targets: ['https://h.example/x'],"
        " options: {secret_setting: S}, start_from_message: {allow: [alice@contoso.com]}}\n"
        "route: {receivers: [ops]}\n"
    )
    for key, value in {
        names.SETTING_ACTION_LINK_KEY: KEY,
        names.SETTING_ENABLE_START_FROM_MESSAGE: "true",
        names.SETTING_ACTIONS_SIGN_IN: "easyauth",  # as if App Service authentication were on
        names.SETTING_CONFIG: str(routing),
        names.SETTING_ARM_ENDPOINT: world.arm.base_url,
        names.SETTING_ARM_TOKEN: world.arm.token,
    }.items():
        monkeypatch.setenv(key, value)
    functions = (names.FUNCTION_ACTIONS, names.FUNCTION_HEALTH)
    with served(azurite.connection_string, "unused", functions, options=options) as base:
        page = requests.get(
            f"{base}/api/actions/{world.token('sql-01')}", headers=headers, timeout=30
        )
    assert page.status_code == status, page.text
    assert says in page.text
    assert world.posts() == 0  # a GET starts nothing


def test_a_step_azure_refused_to_start_may_be_pressed_again(world: World) -> None:
    # GIVEN Azure answered 409 to the first press (another operation was under way)
    token = world.token("sql-busy")
    assert world.press(token).status == 503
    # WHEN that operation is over and the same link is pressed again
    world.fleet["sql-busy"].maintenance_conflict = False
    again = world.press(token)
    # THEN it starts: nothing had started, so it is neither "already started" nor "running"
    assert again.status == 200, again.text
    assert world.posts() == 2


def test_a_failed_step_is_still_told_but_not_as_started(
    world: World, storage: StorageServices
) -> None:
    from shared.routing.config import parse_config
    from shared.routing.stage import route_receivers
    from shared.start.notice import outcome_event
    from tests.support.wave_setup import enrich_notice

    env = {
        names.SETTING_ARM_ENDPOINT: world.arm.base_url,
        names.SETTING_ARM_TOKEN: world.arm.token,
    }
    notices: list[Any] = []
    world.desk._notify = lambda request, outcome, now: notices.append(
        outcome_event(request, outcome, now)
    )
    # GIVEN Azure's operation for sql-fails ends Failed
    assert world.press(world.token("sql-fails")).status == 502
    (event,) = notices
    assert event.status == "Failed"
    # WHEN the notice goes through the enrich and route stages
    told = enrich_notice(storage, env, event)
    config = parse_config(
        "version: 1\nreceivers:\n  - {name: ops, type: webhook, targets: ['https://h.example/x'],"
        " options: {secret_setting: S}}\nroute: {receivers: [ops]}\n"
    )
    (job,) = route_receivers(told, config, NOW).jobs
    # THEN the receiver hears it failed, with the reason, and nothing says it started
    said = json.dumps(job.message.payload)
    assert "did not complete" in said and "The host was not updated" in said
    assert told.event.status == "Failed"
