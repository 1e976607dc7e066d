"""Silences as tables: what a ``--match`` means, which VMs it holds, and when a deadline
breaks through (once)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.models import VirtualMachine
from shared.standins.arm_fleet import FleetVm, window_from
from shared.wave.silences import (
    InMemorySilenceStore,
    Silence,
    SilenceMatchError,
    SilenceNotFoundError,
    judge,
    match_text,
    new_silence,
    parse_match,
)

NOW = datetime(2030, 3, 10, 12, tzinfo=UTC)
SUB = "5f2d7a5e-0d1a-4bd5-9d43-6a3c1b0e8f11"


def vm(name: str = "batch-7", group: str = "rg-batch", **tags: str) -> VirtualMachine:
    fleet_vm = FleetVm(SUB, group, name, tags=tags, maintenance=window_from(NOW))
    return to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())


def silence(match: str, days: int = 5) -> Silence:
    return new_silence(parse_match(match), NOW + timedelta(days=days), NOW, "test")


@pytest.mark.parametrize(
    ("match", "subject", "tracking", "held"),
    [
        ("vm=batch-*", vm(), None, True),
        ("vm=web-*", vm(), None, False),
        ("resource_group=RG-BATCH", vm(), None, True),
        (f"subscription={SUB.upper()}", vm(), None, True),
        ("tag.env=test", vm(env="Test"), None, True),
        ("tag.env=test", vm(), None, False),
        ("tracking_id=BC_1-FXZ", vm(), "bc_1-fxz", True),
        ("tracking_id=BC_1-FXZ", vm(), None, False),
        ("vm=batch-*,tag.env=prod", vm(env="test"), None, False),  # all must hold
    ],
)
def test_what_a_silence_holds(
    match: str, subject: VirtualMachine, tracking: str | None, held: bool
) -> None:
    assert silence(match).matches(subject, tracking) is held


# Finding 7 of issue 16: `--match "vm=web-01,vm=web-02"` stored only vm=web-02.
@pytest.mark.parametrize(
    ("match", "subject", "held"),
    [
        # GIVEN --match                         WHEN the VM      THEN held
        ("vm=web-01,vm=web-02", vm("web-01"), True),  # the first value is not dropped
        ("vm=web-01,vm=web-02", vm("web-02"), True),
        ("vm=web-01,vm=web-02", vm("web-03"), False),
        ("vm=web-01,vm=WEB-01", vm("web-01"), True),  # the same value twice: kept once
        ("vm=web-*,vm=sql-01,tag.env=test", vm("sql-01", env="test"), True),
        ("vm=web-*,vm=sql-01,tag.env=test", vm("sql-01", env="prod"), False),  # keys: all
        ("tag.env=test,tag.env=dev", vm(env="dev"), True),
    ],
)
def test_a_repeated_key_holds_any_of_its_values(
    match: str, subject: VirtualMachine, held: bool
) -> None:
    assert silence(match).matches(subject, None) is held


@pytest.mark.parametrize(
    ("text", "stored", "shown"),
    [
        ("vm=web-01", {"vm": "web-01"}, "vm=web-01"),
        ("vm=web-01, vm=web-02", {"vm": ["web-01", "web-02"]}, "vm=web-01,vm=web-02"),
        ("vm=a,vm=A,tag.env=x", {"vm": "a", "tag.env": "x"}, "tag.env=x,vm=a"),
    ],
)
def test_a_silence_keeps_every_value_it_was_given(
    text: str, stored: dict[str, object], shown: str
) -> None:
    made = silence(text)
    assert made.match == stored
    again = Silence.from_entity({"RowKey": made.id, **made.to_entity()})
    assert again.match == stored
    assert match_text(again.match) == shown


@pytest.mark.parametrize("text", ["", "vm", "colour=red", "vm=", "tag.=x"])
def test_bad_matchers_are_named(text: str) -> None:
    with pytest.raises(SilenceMatchError):
        parse_match(text)


CLOSES_SOON = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
CLOSES_LATER = (NOW + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("due", "already_said", "send", "says_so"),
    [
        # GIVEN a 5-day silence    WHEN the notice's deadline    THEN
        (None, False, False, False),  # completed, gone: held back
        (CLOSES_LATER, False, False, False),  # after the silence: held back
        (CLOSES_SOON, False, True, True),  # before it ends: sent once, saying so
        (CLOSES_SOON, True, False, False),  # said once already: held back
    ],
)
def test_a_deadline_inside_the_silence_is_said_once(
    due: str | None, already_said: bool, send: bool, says_so: bool
) -> None:
    verdict = judge(vm(), None, due, [silence("vm=batch-*")], already_said)
    assert verdict.send is send
    assert ("Sent despite silence" in verdict.note) is says_so


def test_no_silence_no_verdict() -> None:
    assert judge(vm(), None, CLOSES_SOON, [silence("vm=web-*")], False).silence is None


def test_expired_and_ended_silences_hold_nothing() -> None:
    store = InMemorySilenceStore()
    first, second = silence("vm=a*", days=1), silence("vm=b*", days=10)
    store.put(first)
    store.put(second)
    assert [s.id for s in store.active(NOW + timedelta(days=2))] == [second.id]
    store.expire(second.id, NOW + timedelta(days=3))
    assert store.active(NOW + timedelta(days=3)) == []
    assert replace(second, expired_at=None).active(NOW + timedelta(days=3))
    with pytest.raises(SilenceNotFoundError):
        store.expire("nope", NOW)
