"""Errors a person meets on the command line are one line saying what to do; a traceback only
with ``forewarn --debug``.

GIVEN a setting a person got wrong, or a failure nothing else catches
WHEN  a command runs
THEN  stderr is one line naming the command and the problem (never the setting's value), the
      exit code is 2, and only ``--debug`` adds the traceback
"""

from __future__ import annotations

import logging

import pytest

from shared import names
from shared.cli import main

MALFORMED = "AccountName=devstoreaccount1 AccountKey=not-a-connection-string-secret"


@pytest.mark.parametrize(
    "argv",
    [
        ["deadletter", "list"],
        ["silence", "list"],
        ["catch-up", "--dry-run"],
    ],
)
def test_a_malformed_storage_connection_string_is_one_line_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # GIVEN AzureWebJobsStorage that is not a connection string (a paste gone wrong)
    monkeypatch.setenv(names.STORAGE_CONNECTION, MALFORMED)
    monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, "ws")
    monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_ENDPOINT, "http://127.0.0.1:9")
    # WHEN a storage command runs
    code = main(argv)
    # THEN one line names the setting and what a connection string looks like
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert names.STORAGE_CONNECTION in err and "connection string" in err
    assert "not-a-connection-string-secret" not in err


def _crash(*_: object) -> int:
    raise RuntimeError("something nobody expected")


def test_an_unexpected_failure_is_one_line_and_the_traceback_only_with_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a command that fails in a way no handler foresaw
    monkeypatch.setattr("shared.cli.deadletter_command.run_list", _crash)
    # WHEN it runs without --debug THEN one line, pointing to --debug
    assert main(["deadletter", "list"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "forewarn deadletter: RuntimeError: something nobody expected "
        "(forewarn --debug deadletter ... shows the traceback)"
    ]
    # WHEN it runs with --debug THEN the traceback is there too
    assert main(["--debug", "deadletter", "list"]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def _chatty_library(*_: object) -> int:
    # What urllib3 says of every connection a storage command opens.
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection (1)")
    return 0


# A --debug run left the root logger at DEBUG for the rest of the process: every later command
# run in it (tests, anything embedding main) printed urllib3's connection lines to stderr.
@pytest.mark.parametrize(
    ("earlier", "now", "library_line_shown"),
    [
        # GIVEN an earlier run       WHEN this run          THEN urllib3's DEBUG line on stderr
        ([], [], False),
        (["--debug"], [], False),
        ([], ["--debug"], True),
        (["--debug"], ["--debug"], True),
    ],
)
def test_library_debug_lines_reach_stderr_only_when_this_run_asks(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    earlier: list[str],
    now: list[str],
    library_line_shown: bool,
) -> None:
    monkeypatch.setattr("shared.cli.deadletter_command.run_list", _chatty_library)
    root_level = logging.getLogger().level
    assert main([*earlier, "deadletter", "list"]) == 0
    capsys.readouterr()
    assert main([*now, "deadletter", "list"]) == 0
    err = capsys.readouterr().err
    assert ("Starting new HTTP connection" in err) is library_line_shown, err
    # AND main leaves the process's root logger as it found it
    assert logging.getLogger().level == root_level
