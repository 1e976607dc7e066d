"""`forewarn serve` points Claim links at itself when FOREWARN_PUBLIC_URL is unset."""

from __future__ import annotations

import argparse
import os

import pytest

from shared import names
from shared.cli.serve_command import _link_here

CASES = [
    # GIVEN key         public URL                 port   THEN FOREWARN_PUBLIC_URL
    ("k" * 20, "", 7071, "http://127.0.0.1:7071"),
    ("k" * 20, "https://fw.example.com", 7071, "https://fw.example.com"),
    ("", "", 7071, ""),  # no key: no links, so nothing to point
    ("k" * 20, "", 0, ""),  # a port chosen by the system is not known yet
]


@pytest.mark.parametrize(("key", "url", "port", "expected"), CASES)
def test_links_point_at_this_host_only_when_nothing_else_is_set(
    monkeypatch: pytest.MonkeyPatch, key: str, url: str, port: int, expected: str
) -> None:
    monkeypatch.setenv(names.SETTING_ACTION_LINK_KEY, key)
    monkeypatch.setenv(names.SETTING_PUBLIC_URL, url)
    _link_here(argparse.Namespace(host="127.0.0.1", port=port))

    assert os.environ[names.SETTING_PUBLIC_URL] == expected
