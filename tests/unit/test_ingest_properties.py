"""Property tests: random and mutated payloads never produce a 5xx or an unhandled exception."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from shared.ingest import AlertIngestor, IngestRequest
from shared.parsing.validate import SCHEMA_BASE, _load
from shared.storage import Courier, InMemoryPayloadStore, InMemoryQueuePublisher
from tests.conftest import FIXTURES, load_fixture

SAMPLES = [
    json.loads(
        (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned.json").read_text()
    ),
    load_fixture("legacy-activitylog-servicehealth-incident.json"),
    load_fixture("common-resourcehealth-testaction-2021.json"),
    load_fixture("common-administrative-testaction-2021.json"),
    load_fixture("legacy-activitylog-resourcehealth.json"),
]
JSON = {"Content-Type": "application/json"}

# Any code point, lone surrogates included: JSON can carry "\ud800", which is not text.
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def handler() -> AlertIngestor:
    return AlertIngestor(Courier(InMemoryQueuePublisher(), InMemoryPayloadStore()))


def answer(payload: Any) -> int:
    response = handler().handle(IngestRequest(json.dumps(payload).encode(), JSON))
    assert response.status in (200, 202, 400, 403), response
    if response.status == 400:
        assert response.body["problems"], "a 400 names at least one field"
    return response.status


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_random_json_is_answered_without_a_5xx(payload: Any) -> None:
    answer(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_samples_are_answered_without_a_5xx(data: st.DataObject) -> None:
    sample = copy.deepcopy(data.draw(st.sampled_from(SAMPLES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(sample)))
        parent = sample
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            parent[path[-1]] = data.draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        if not paths(sample):
            break
    answer(sample)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_schema(_load("envelope-common.schema.json")))
def test_payloads_generated_from_the_common_schema_are_answered(payload: Any) -> None:
    answer(payload)


def test_schema_ids_are_local_identifiers() -> None:
    assert SCHEMA_BASE.startswith("https://forewarn.example/")
