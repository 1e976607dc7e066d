"""``forewarn claim|unclaim|snooze`` against Azurite, with the reminders timer (``forewarn
remind``) on the wave of test_wave_sweep.py: app-1..app-4 may start themselves until
2030-03-31 09:00; app-2 (tier=db) reaches ops-email and db-webhook, the others ops-email.
"""

from __future__ import annotations

import json

import pytest

from shared.cli import main
from tests.integration.test_wave_sweep import (
    Wave,
    _change_the_fleet,
    _cli,
    _remind,
    _sweep,
    _taken,
    wave,
)

__all__ = ["wave"]  # the fixture, shared with the sweep's tests

pytestmark = pytest.mark.integration

DUE_24H = "2030-03-30T09:30:00Z"  # the 24 h reminders of the self-service deadline are due
DUE_72H = "2030-03-28T10:00:00Z"


def _ids(wave: Wave, argv: list[str]) -> list[str]:
    """The wave's VMs by resource id: Azurite is shared, and other tests' waves have an app-2
    too (a name is taken only when one recorded VM has it; app-9 has none)."""
    return [wave.vm_id(a) if a.startswith("app-") and a != "app-9" else a for a in argv]


def _self_service(notices: list[dict]) -> dict[str, list[str]]:
    """VM name -> receivers of its self-service reminder."""
    return {
        n["vm_id"].rsplit("/", 1)[1]: n["receivers"]
        for n in notices
        if n["kind"].startswith("self_service-")
    }


CLAIM_CASES = [
    # GIVEN a claim (argv after `forewarn claim`)          THEN app-2's reminder reaches
    ("unclaimed", [], ["ops-email", "db-webhook"]),
    (
        "app-2 for db-webhook",
        ["app-2", "--by", "Alice", "--receiver", "db-webhook"],
        ["db-webhook"],
    ),
    ("app-2, no receiver", ["app-2", "--by", "Alice"], ["ops-email", "db-webhook"]),
    (
        "wave for ops-email",
        ["--wave", "WAVE-12", "--by", "Bob", "--receiver", "ops-email"],
        ["ops-email"],
    ),
]


@pytest.mark.parametrize(
    ("argv", "reached"), [c[1:] for c in CLAIM_CASES], ids=[c[0] for c in CLAIM_CASES]
)
def test_a_claim_sends_its_vms_reminders_to_the_owners_receiver_only(
    wave: Wave, capsys: pytest.CaptureFixture[str], argv: list[str], reached: list[str]
) -> None:
    if argv:
        _cli(capsys, "claim", *_ids(wave, argv))
    try:
        notices = _remind(
            wave, capsys, "--subscription", wave.subscription, "--now", DUE_24H, "--dry-run"
        )
        found = _self_service(notices)
        assert found["app-2"] == reached
        # AND the VMs nobody claimed are reminded as before
        assert found["app-1"] == ["ops-email"]
    finally:
        if "--wave" in argv:
            _cli(capsys, "unclaim", "--wave", "WAVE-12")
        elif argv:
            _cli(capsys, "unclaim", wave.vm_id("app-2"))


def test_every_message_about_a_claimed_vm_says_who_has_it(
    wave: Wave, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN app-2 claimed by Alice for db-webhook
    _cli(capsys, "claim", wave.vm_id("app-2"), "--by", "Alice", "--receiver", "db-webhook")
    # WHEN the reminders pass runs for real
    notices = _remind(wave, capsys, "--subscription", wave.subscription, "--now", DUE_24H)
    _cli(capsys, "unclaim", wave.vm_id("app-2"))
    events = _taken(wave, {n["event_id"] for n in notices if n["event_id"]})
    # THEN the event says so beside the VM, in its own line, which every channel shows
    vms = {vm["name"]: vm for event in events for vm in event.body["vms"]}
    assert vms["app-2"]["owners"] == {"db-webhook": "Alice"}
    assert "owners" not in vms["app-1"]  # unclaimed VMs carry no key at all
    summaries = "\n".join(event.body["event"]["summary"] or "" for event in events)
    assert "app-2: claimed by Alice; " in summaries
    assert "app-1: claimed" not in summaries


SNOOZE_CASES = [
    # GIVEN snoozed at (for)            WHEN remind at        THEN app-1 reminded at offset
    ("not snoozed", None, DUE_72H, "72h"),
    ("snoozed 24 h", ("2030-03-28T09:30:00Z", "24h"), DUE_72H, None),
    ("after the snooze", ("2030-03-28T09:30:00Z", "24h"), "2030-03-29T10:00:00Z", "72h"),
    # Snoozed well past the last reminder: that one still goes out on time.
    ("bound by the last", ("2030-03-28T09:30:00Z", "5d"), DUE_24H, "24h"),
]


@pytest.mark.parametrize(
    ("snooze", "now", "offset"), [c[1:] for c in SNOOZE_CASES], ids=[c[0] for c in SNOOZE_CASES]
)
def test_snooze_moves_the_next_reminder_but_never_past_the_last(
    wave: Wave,
    capsys: pytest.CaptureFixture[str],
    snooze: tuple[str, str] | None,
    now: str,
    offset: str | None,
) -> None:
    if snooze is not None:
        said = _cli(capsys, "snooze", wave.vm_id("app-1"), "--for", snooze[1], "--now", snooze[0])
        assert said.startswith(wave.vm_id("app-1").lower() + ": reminders held until ")
    notices = _remind(wave, capsys, "--subscription", wave.subscription, "--now", now, "--dry-run")
    found = [n["kind"] for n in notices if n["vm_id"].endswith("/app-1")]
    assert [k for k in found if k.startswith("self_service-")] == (
        [f"self_service-{offset}"] if offset else []
    )
    # AND the others are not held
    assert any(n["vm_id"].endswith("/app-3") for n in notices)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        # GIVEN                                   THEN exit 2 and says
        (["claim", "app-9", "--by", "A"], "no VM named 'app-9'"),
        (["claim", "app-1"], "--by NAME"),
        (["claim", "--wave", "WAVE-12", "--by", "A"], "add --receiver"),
        (["unclaim", "app-3"], "nobody has claimed"),
        (["snooze", "app-1", "--for", "soon"], "not a duration"),
    ],
)
def test_bad_claims_say_why(
    wave: Wave, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    assert main(_ids(wave, argv)) == 2
    assert error in capsys.readouterr().err


def test_claim_list_shows_what_is_in_force(wave: Wave, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(capsys, "claim", wave.vm_id("app-4"), "--by", "Carol", "--receiver", "ops-email")
    listed = json.loads(_cli(capsys, "claim", "--list", "--json"))
    _cli(capsys, "unclaim", wave.vm_id("app-4"))
    mine = [c for c in listed if c["key"] == wave.vm_id("app-4").lower()]
    assert [(c["by"], c["receiver"]) for c in mine] == [("Carol", "ops-email")]
    # AND a snooze is listed while it runs, not after
    _cli(capsys, "snooze", wave.vm_id("app-4"), "--for", "24h", "--now", "2030-03-28T00:00:00Z")
    for now, expected in (
        ("2030-03-28T12:00:00Z", ["2030-03-29T00:00:00Z"]),
        ("2030-03-30T00:00:00Z", []),
    ):
        listed = json.loads(_cli(capsys, "claim", "--list", "--json", "--now", now))
        snoozed = [
            c["until"]
            for c in listed
            if c["subject"] == "snooze" and c["key"] == wave.vm_id("app-4").lower()
        ]
        assert snoozed == expected


UNKNOWN_RECEIVER_CASES = [
    # GIVEN a claim for a receiver the routing file does not have (a typo, another team's)
    ("a VM", ["app-4", "--by", "Dana", "--receiver", "dba-slack"]),
    ("a wave", ["--wave", "WAVE-12", "--by", "Dana", "--receiver", "dba-slack"]),
]


@pytest.mark.parametrize(
    "argv", [c[1] for c in UNKNOWN_RECEIVER_CASES], ids=[c[0] for c in UNKNOWN_RECEIVER_CASES]
)
def test_a_claim_for_a_receiver_the_routing_file_lacks_says_it_changes_no_reminders(
    wave: Wave, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # WHEN it is made THEN it is kept (it still names the owner), and stderr says in one line
    # that no receiver has that name, which ones do, and that nobody's reminders change.
    assert main(["claim", *_ids(wave, argv)]) == 0
    err = capsys.readouterr().err
    main(["unclaim", *(_ids(wave, argv[:1]) if argv[0] != "--wave" else argv[:2])])
    capsys.readouterr()
    assert "the routing file has no receiver named 'dba-slack' (it has: " in err
    assert "db-webhook" in err and "ops-email" in err
    assert "the claim names the owner but changes nobody's reminders" in err


def test_snooze_clear_lets_the_held_reminder_go_at_once(
    wave: Wave, capsys: pytest.CaptureFixture[str]
) -> None:
    def reminded() -> list[str]:
        notices = _remind(
            wave, capsys, "--subscription", wave.subscription, "--now", DUE_72H, "--dry-run"
        )
        return [n["kind"] for n in notices if n["vm_id"].endswith("/app-1")]

    # GIVEN app-1 snoozed over its 72 h reminder
    _cli(capsys, "snooze", wave.vm_id("app-1"), "--for", "24h", "--now", "2030-03-28T09:30:00Z")
    assert reminded() == []
    # WHEN the snooze is cleared THEN the held reminder is due now, and a second clear says so
    said = _cli(capsys, "snooze", wave.vm_id("app-1"), "--clear")
    assert said.endswith("snooze until 2030-03-29T09:30:00Z cleared; reminders go out as due")
    assert reminded() == ["self_service-72h"]
    again = _cli(capsys, "snooze", wave.vm_id("app-1"), "--clear")
    assert again.endswith(": no snooze to clear; its reminders go out as due")


def test_the_sweep_ends_the_claims_of_vms_done_or_deleted(
    wave: Wave, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN claims on every VM, a snooze on the one that will be done, and one on the wave
    for name in ("app-1", "app-2", "app-3", "app-4"):
        _cli(capsys, "claim", wave.vm_id(name), "--by", "Alice", "--receiver", "ops-email")
    _cli(capsys, "snooze", wave.vm_id("app-3"), "--for", "5d", "--now", "2030-03-05T00:00:00Z")
    _cli(capsys, "claim", "--wave", "WAVE-12", "--by", "Bob", "--receiver", "ops-email")
    # WHEN app-3 is done and app-4 deleted, and the sweep runs (not a dry run)
    _change_the_fleet(wave)
    code, notices = _sweep(wave, capsys)
    _taken(wave, {n["event_id"] for n in notices})
    assert code == 0
    # THEN their claims and snooze are gone; the open VMs' and the wave's stay
    listed = json.loads(_cli(capsys, "claim", "--list", "--json", "--now", "2030-03-05T12:00:00Z"))
    mine = {
        (c["subject"], c["key"].rsplit("/", 1)[-1])
        for c in listed
        if c["key"].lower().startswith(f"/subscriptions/{wave.subscription}")
        or c["key"] == "WAVE-12"
    }
    assert mine == {("vm", "app-1"), ("vm", "app-2"), ("wave", "WAVE-12")}
    _cli(capsys, "unclaim", "--wave", "WAVE-12")
    for name in ("app-1", "app-2"):
        _cli(capsys, "unclaim", wave.vm_id(name))
