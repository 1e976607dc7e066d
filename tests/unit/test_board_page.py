"""The board page (shared/board.py, shared/render/board.py) and its SVG timeline
(shared/render/timeline.py), on the wave of test_wave_board.py: where each bar and mark lands
for known windows, what the page answers for each key, and that every text is escaped."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared import names
from shared.board import HEADERS, BoardService, board_key
from shared.enrich.plan import PlanSettings
from shared.models import QuietestHour
from shared.render.board import board_html
from shared.render.text import ReaderClock
from shared.render.timeline import LEFT, RIGHT, WIDTH, Scale, layout, span_of, svg
from shared.start.audit import AuditTrail
from shared.storage import InMemoryEntityTable
from shared.wave.board import Board, build_board
from shared.wave.claims import ClaimStore
from shared.wave.records import InMemoryRecordStore
from tests.unit.test_wave_board import CLOSES, NOW, WAVE, WAVE_START, H, ownership, record

UTC_CLOCK = ReaderClock(ZoneInfo("UTC"), "en", NOW)
KEY = "board-read-key-for-tests"


def board() -> Board:
    hint = QuietestHour("2030-03-21T02:00:00Z", "2030-03-21T03:00:00Z", 4.0)  # last week
    early = record("web-1", start=WAVE_START - 24 * H)
    early = replace(early, vm=replace(early.vm, quietest_hour=hint))
    records = [early, record("web-2", "let_azure"), record("web-3", status="completed")]
    return build_board(WAVE, records, ownership(), NOW, plan_settings=PlanSettings(lead_minutes=60))


def test_the_span_runs_from_the_first_window_to_the_last_with_room() -> None:
    start, end = span_of(board())
    # GIVEN windows from 28 Feb 09:00 (web-1) to 1 Apr 09:00 (Azure's end for web-2, web-3)
    first, last = WAVE_START - 24 * H, CLOSES + 24 * H
    room = (last - first) / 40
    assert (start, end) == (first - room, last + room)


def test_a_scale_puts_moments_in_proportion_and_clamps_outside_ones() -> None:
    scale = Scale(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 11, tzinfo=UTC))
    assert scale.x(datetime(2030, 1, 1, tzinfo=UTC)) == LEFT
    assert scale.x(datetime(2030, 1, 11, tzinfo=UTC)) == WIDTH - RIGHT
    assert scale.x(datetime(2030, 1, 6, tzinfo=UTC)) == (LEFT + WIDTH - RIGHT) / 2
    assert scale.x(datetime(2029, 1, 1, tzinfo=UTC)) == LEFT  # before: at the edge


def test_each_vm_has_its_self_service_bar_before_azures_in_its_own_row() -> None:
    drawn = layout(board(), UTC_CLOCK)
    scale = Scale(*span_of(board()))
    # THEN two bars per VM, rows in the board's order (web-1, web-2, web-3) from the top
    rows: dict[str, list[float]] = {}
    for bar in drawn.bars:
        rows.setdefault(bar.vm_id, []).append(bar.y)
    assert [vm_id.rsplit("/", 1)[1] for vm_id in rows] == ["web-1", "web-2", "web-3"]
    tops = [min(ys) for ys in rows.values()]
    assert tops == sorted(tops) and len(set(tops)) == 3
    for vm in board().vms:
        own = {bar.kind: bar for bar in drawn.bars if bar.vm_id == vm.vm_id}
        ss, az = own["self_service"], own["scheduled"]
        # the self-service window ends where Azure's begins (5 min later): left of it, above it
        assert ss.x + ss.width <= az.x + 0.5 and ss.y < az.y
        assert ss.x == scale.x(vm.self_service_window.start_dt)  # type: ignore[arg-type]
        assert az.x + az.width == pytest.approx(scale.x(vm.scheduled_window.end_dt), abs=0.02)  # type: ignore[arg-type]
    # web-1 closes a day before the others: its bar ends further left
    ends = {bar.vm_id: bar.x + bar.width for bar in drawn.bars if bar.kind == "self_service"}
    assert ends[board().vms[0].vm_id] < ends[board().vms[1].vm_id]
    # a done VM is drawn pale, open ones not
    assert [bar.pale for bar in drawn.bars if bar.kind == "scheduled"] == [False, False, True]


def test_marks_sit_at_the_plan_step_the_quietest_hour_and_now() -> None:
    drawn = layout(board(), UTC_CLOCK)
    scale = Scale(*span_of(board()))
    marks = {mark.kind: mark for mark in drawn.marks}
    assert set(marks) == {"step", "quietest"}  # only web-1 is to be started by hand
    # last week's quietest hour, shown at its next time from now: a week later; the plan's one
    # step starts then too (it fits before the window closes), so the two marks meet
    quiet = datetime(2030, 3, 28, 2, tzinfo=UTC)
    assert marks["quietest"].x == scale.x(quiet) == marks["step"].x
    assert board().vms[0].step.quietest  # type: ignore[union-attr]
    assert drawn.now_x == scale.x(NOW)
    assert [tick.x for tick in drawn.ticks] == sorted(tick.x for tick in drawn.ticks)
    assert 2 <= len(drawn.ticks) <= 7


def test_a_large_wave_draws_its_first_rows_and_lists_every_vm() -> None:
    from shared.render.timeline import MAX_ROWS

    many = [record(f"vm-{n:04d}") for n in range(MAX_ROWS + 5)]
    made = build_board(WAVE, many, ownership(), NOW)
    drawn = layout(made, UTC_CLOCK)
    # THEN two bars for each of the first MAX_ROWS VMs only, and every VM in the table
    assert len(drawn.bars) == 2 * MAX_ROWS
    assert drawn.names[-1].text.startswith(f"vm-{MAX_ROWS - 1:04d}")
    page = board_html(made, UTC_CLOCK)
    assert page.count('<tr id="vm-') == MAX_ROWS + 5
    assert f"the first {MAX_ROWS} of {MAX_ROWS + 5} VMs" in page


def test_two_vms_of_one_name_in_two_groups_get_a_row_each_read_true() -> None:
    from tests.support.truth_oracle import board_untrue

    other = record("web-1", status="completed")
    other = replace(
        other,
        vm_id=other.vm_id.replace("/rg-web/", "/rg-api/"),
        vm=replace(
            other.vm, id=other.vm.id.replace("/rg-web/", "/rg-api/"), resource_group="rg-api"
        ),
    )
    records = [record("web-1"), other]
    page = board_html(build_board(WAVE, records, ownership(), NOW), UTC_CLOCK)
    assert '<tr id="vm-rg-web/web-1"' in page and '<tr id="vm-rg-api/web-1" class="closed"' in page
    assert board_untrue(page, records, ownership(), NOW) == []


def test_every_text_is_escaped_in_the_svg_and_the_table() -> None:
    nasty = record("web-1")
    nasty = replace(nasty, vm=replace(nasty.vm, name='<script>alert("x")</script>'))
    made = build_board(WAVE, [nasty], ownership(), NOW)
    page = board_html(made, UTC_CLOCK)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<script" not in svg(made, UTC_CLOCK)


# --------------------------------------------------------------------------------------
# The page's answers


def service(key: str | None = KEY, audit: AuditTrail | None = None) -> BoardService:
    records = InMemoryRecordStore()
    for given in (record("web-1"), record("web-2", "let_azure")):
        records.put(given)
    claims = ClaimStore(InMemoryEntityTable())
    claims.claim_vm(record("web-1").vm_id, "Alice <ops>", "ops-email", NOW)
    return BoardService(key, records, claims, None, audit)


ANSWERS = [
    # GIVEN query, headers                              THEN status, the page says
    ("no key", {}, {}, 401, "Key needed"),
    ("wrong key", {"key": KEY + "x"}, {}, 401, "Key needed"),
    ("key as ?key=", {"key": KEY}, {}, 200, "Wave BC_1-FXZ"),
    ("key as header", {}, {"X-Forewarn-Board-Key": KEY}, 200, "Wave BC_1-FXZ"),
    ("a wrong header wins", {"key": KEY}, {"x-forewarn-board-key": "nope"}, 401, "Key needed"),
    ("unknown zone", {"key": KEY, "tz": "Mars/Olympus"}, {}, 400, "Unknown time zone"),
    ("zone shown", {"key": KEY, "tz": "Europe/Berlin"}, {}, 200, "Times in Europe/Berlin"),
]


@pytest.mark.parametrize(
    ("params", "headers", "status", "says"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_the_page_answers_by_its_read_key(
    params: dict[str, str], headers: dict[str, str], status: int, says: str
) -> None:
    page = service().handle(WAVE, params, headers, NOW)
    assert (page.status, says in page.body) == (status, True)
    assert page.headers == HEADERS
    assert "script-src" not in page.headers["Content-Security-Policy"]
    if status == 200:
        assert "claimed by Alice &lt;ops&gt;" in page.body  # escaped
        assert "<svg" in page.body and "<script" not in page.body


def test_without_a_usable_key_the_page_is_not_set_up_and_an_unknown_wave_is_404() -> None:
    assert service(None).handle(WAVE, {"key": KEY}, {}, NOW).status == 503
    assert service().handle("NOPE", {"key": KEY}, {}, NOW).status == 404


KEYS = [
    # GIVEN the setting                           THEN usable
    ("unset", None, False),
    ("short", "x" * 15, False),
    ("unresolved Key Vault reference", "@Microsoft.KeyVault(SecretUri=https://v/s/k/)", False),
    ("16 characters", "k" * 16, True),
]


@pytest.mark.parametrize(("value", "usable"), [k[1:] for k in KEYS], ids=[k[0] for k in KEYS])
def test_which_settings_make_a_usable_key(value: str | None, usable: bool) -> None:
    environ = {names.SETTING_BOARD_READ_KEY: value} if value is not None else {}
    assert (board_key(environ) is not None) is usable


HEALTH = [
    # GIVEN FOREWARN_BOARD_READ_KEY                 THEN /api/health says   healthy
    ("unset", None, "off", True),
    ("set", "k" * 16, "ok", True),
    ("too short", "s3cr3t", "too short", False),
    ("unresolved", "@Microsoft.KeyVault(SecretUri=https://kv/s/b/)", "unresolved", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "state", "healthy"), [h[1:] for h in HEALTH], ids=[h[0] for h in HEALTH]
)
def test_health_names_the_board_key_state_never_its_value(
    value: str | None, state: str, healthy: bool
) -> None:
    from shared.board import key_state
    from shared.health import HealthReport

    environ = {} if value is None else {names.SETTING_BOARD_READ_KEY: value}
    said = key_state(environ)
    assert said.startswith(state) and (value is None or value not in said)
    report = HealthReport({"queues": "ok", "tables": "ok"}, board_read_key=said)
    assert report.healthy is healthy
    assert report.to_json()["board_read_key"] == said


def test_start_now_audit_rows_show_in_their_vms_told_column() -> None:
    from shared.start.audit import AuditRow

    trail = AuditTrail(InMemoryEntityTable())
    vm = record("web-1").vm_id
    trail.write(
        AuditRow(WAVE, "confirmed", "2030-03-27T08:30:00Z", "alice@example.com", "start",
                 "step 1", (vm,), "ops-email", "ok")
    )  # fmt: skip
    page = service(audit=trail).handle(WAVE.lower(), {"key": KEY}, {}, NOW).body
    row = page[page.index('<tr id="vm-rg-web/web-1"') :]
    row = row[: row.index("</tr>")]
    assert "start now (step 1, via link) by alice@example.com" in row
    assert "start now" not in page[page.index('<tr id="vm-rg-web/web-2"') :]
