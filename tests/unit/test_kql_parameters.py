"""KQL is parameterised: values travel as data, the query text never holds them.

GIVEN subscription ids or VM ids (from settings or a payload), hostile ones included
WHEN  a forewarn query is made
THEN  its text differs only in the base64 parameter blob, the values decode back intact,
      and nothing of theirs appears in the text.
"""

from __future__ import annotations

import re

import pytest

from shared.loganalytics.activity import QUERY_TEMPLATE, activity_query
from shared.loganalytics.kql import KqlQuery, read_parameters
from shared.loganalytics.quietest import quietest_query

HOSTILE = [
    "11111111-1111-1111-1111-111111111111') | union (AzureActivity",
    'x" or 1==1 //',
    "'; .drop table AzureActivity",
    "/subscriptions/s/resourceGroups/rg'\n| take 1",
    "\\' \u2028 \u0000",
]
_BLOB = re.compile(r"'[A-Za-z0-9+/=]*'")


def without_blob(text: str) -> str:
    return _BLOB.sub("'<blob>'", text)


@pytest.mark.parametrize("value", HOSTILE)
def test_activity_query_text_is_constant_whatever_the_subscriptions(value: str) -> None:
    plain = activity_query(["11111111-1111-1111-1111-111111111111"]).text()
    hostile = activity_query([value]).text()
    assert without_blob(hostile) == without_blob(plain)
    assert QUERY_TEMPLATE in hostile
    name, parameters = read_parameters(hostile)
    assert name == "catch-up"
    assert parameters["subscriptions"] == [value.strip().lower()]


@pytest.mark.parametrize("value", HOSTILE)
def test_quietest_query_text_is_constant_whatever_the_vm_ids(value: str) -> None:
    plain = quietest_query(["/subscriptions/a/resourcegroups/b/providers/x/y/vm1"]).text()
    hostile = quietest_query([value]).text()
    assert without_blob(hostile) == without_blob(plain)
    assert read_parameters(hostile)[1]["vm_ids"] == [value.lower()]


def test_only_the_blob_line_varies_and_it_holds_no_quote() -> None:
    text = KqlQuery("probe", "print p", {"v": "'\"|\n"}).text()
    lines = text.split("\n")
    assert lines[0] == "// forewarn: probe"
    assert re.fullmatch(
        r"let p = parse_json\(base64_decode_tostring\('[A-Za-z0-9+/=]+'\)\);", lines[1]
    )
    assert lines[2:] == ["print p"]


def test_a_query_name_cannot_carry_text() -> None:
    with pytest.raises(ValueError, match="query name"):
        KqlQuery("x\n| take 1", "print p")
