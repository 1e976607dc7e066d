"""The compiled schema check answers as ``jsonschema`` does, on every node of real alerts and of
thousands of mutations of them; ``problems`` still names each field of an invalid one.

The compiled check (``shared.parsing.validate.fast_check``) lets a valid alert skip the walk
``jsonschema`` makes; a "yes" where ``jsonschema`` says "no" would let a malformed alert past
its 400, so the two are compared on everything the fuzz tests send.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from shared.parsing.decode import decode_body
from shared.parsing.errors import InvalidJsonError, Problem
from shared.parsing.validate import _SCHEMA_FILES, fast_check, problems, validator
from shared.standins.alert_mutations import Mutant, every_single_mutation, mutate, paths, samples


def nodes(document: Any) -> Iterator[Any]:
    """The document and every value inside it, at any depth."""
    stack = [document]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# Where the two could part: each JSON type, the empty and the near-miss values of each keyword
# (minLength 1, the schema ids of const, 1.0 counted as an integer, a bool that is not one).
EDGES: list[Any] = [
    None, True, False, 0, -1, 1.0, 1.5, "", "x", [], {}, ["x"], {"x": "y"}, [{}],
    [{"ServiceName": "x", "ImpactedRegions": [{}]}], "azureMonitorCommonAlertSchema",
    "Microsoft.Insights/activityLogs",
]  # fmt: skip


def documents() -> Iterator[Any]:
    """The nine real samples with each edge value at every place (and every key deleted), one
    in 15 of the fuzz corpus's hostile values at every place (fixed seed), and 60 random
    multi-mutations of each."""
    rng = random.Random(18)
    for sample in samples():
        yield sample
        for place in paths(sample):
            for value in EDGES:
                mutant = Mutant(sample)
                mutant.put(place, value)
                yield mutant.document
            mutant = Mutant(sample)
            mutant.delete(place)
            yield mutant.document
        for _, _, body in every_single_mutation(sample):
            if rng.random() >= 1 / 15:
                continue
            try:
                yield decode_body(body)
            except InvalidJsonError:
                continue  # refused before any schema sees it
        for _ in range(60):
            try:
                yield decode_body(mutate(sample, rng))
            except InvalidJsonError:
                continue


def test_every_schema_compiles() -> None:
    # A schema the check does not know falls back to jsonschema (correct, slower): say so.
    assert {name: fast_check(name) is not None for name in _SCHEMA_FILES} == dict.fromkeys(
        _SCHEMA_FILES, True
    )


def test_the_compiled_check_says_what_jsonschema_says_on_every_node_of_every_mutation() -> None:
    compared = disagreements = 0
    examples: list[str] = []
    seen: set[str] = set()
    for document in documents():
        for node in nodes(document):
            key = repr(node)  # the unchanged parts of a sample recur in every mutant of it
            if key in seen:
                continue
            seen.add(key)
            for name in _SCHEMA_FILES:
                check = fast_check(name)
                assert check is not None
                compared += 1
                if check(node) != validator(name).is_valid(node):
                    disagreements += 1
                    examples.append(f"{name}: {str(node)[:80]}")
    assert compared > 50_000  # the comparison covered the corpus, not a handful
    assert (disagreements, examples[:3]) == (0, [])


# GIVEN a payload with a field wrong                    THEN problems names it
INVALID = [
    ("envelope-common.schema.json", {"schemaId": "azureMonitorCommonAlertSchema"}, ""),
    (
        "service-health-properties.schema.json",
        {"title": "t", "incidentType": "", "trackingId": "X"},
        "/incidentType",
    ),
    (
        "service-health-properties.schema.json",
        {"title": "t", "incidentType": "M", "trackingId": "X", "impactedServices": [{}]},
        "/impactedServices",
    ),
    ("activity-log-event.schema.json", {"level": True}, "/level"),
]


@pytest.mark.parametrize(("schema", "instance", "pointer"), INVALID)
def test_an_invalid_payload_still_gets_each_field_named(
    schema: str, instance: Any, pointer: str
) -> None:
    found = problems(schema, instance)
    assert found and all(isinstance(problem, Problem) for problem in found)
    assert pointer in [problem.pointer for problem in found]
