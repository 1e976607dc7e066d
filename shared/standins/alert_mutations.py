"""Structure-aware mutations of the real alert samples, for the fuzz tests and bench/fuzz.py.

Each mutation puts one hostile value at one place of a real sample (any field, at any depth):
a type swap, an integer of thousands of digits, deep nesting, a timestamp at the edge of the
calendar, a lone surrogate, a long string, a path trick, an odd ``impactedServices`` string,
a huge or odd key. Values JSON cannot be written with from Python (huge integers, ``NaN``,
10,000-deep nesting, lone surrogate escapes) are spliced into the body as raw text.

``ENQUEUED_CHECKS`` says what every accepted event must be for the next stage to take it.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

from shared.standins.samples import azure_sample, forewarn_sample

SAMPLE_FILES = [
    "forewarn/common-servicehealth-maintenance-planned.json",
    "forewarn/common-servicehealth-maintenance-planned-vms.json",
    "azure/common-servicehealth-incident-testaction-2021.json",
    "azure/legacy-activitylog-servicehealth-incident.json",
    "azure/common-resourcehealth-testaction-2021.json",
    "azure/legacy-activitylog-resourcehealth.json",
    "azure/common-administrative-testaction-2021.json",
    "azure/legacy-activitylog-administrative.json",
]
OTHER_SUBSCRIPTION = "99999999-9999-4999-8999-999999999999"
_VM = f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Compute"


def _sample(path: str) -> Any:
    folder, name = path.split("/")
    return forewarn_sample(name) if folder == "forewarn" else azure_sample(name)


def samples() -> list[Any]:
    found = [_sample(name) for name in SAMPLE_FILES]
    # The platform-initiated twin of the Resource Health test action, so that mutations of an
    # accepted Resource Health alert are fuzzed too (the sample itself is a user's reboot).
    platform = copy.deepcopy(found[4])
    platform["data"]["alertContext"]["properties"]["cause"] = "PlatformInitiated"
    return [*found, platform]


class Raw:
    """Text spliced into the body as it is (not a JSON string)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


HOSTILE: list[Any] = [
    # type swaps
    None, True, False, 0, -1, 3, 1.5, "", "x", [], {}, ["x"], {"x": "y"}, [[[]]],
    # numbers that are not numbers, or too big to read
    Raw("9" * 5000), Raw("-" + "9" * 4301), Raw("9" * 4300), Raw("1e999"), Raw("-1e999"),
    Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1" + "0" * 400 + ".5"),
    # nesting
    _deep(40), _deep(900), _deep(5000), Raw('{"a":' * 800 + "1" + "}" * 800),
    # timestamps at the edges of the calendar, and nearly-timestamps
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0005-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-02-30T00:00:00Z",
    "2024-01-01T24:00:00Z", "2024-01-01T00:00:00.12345678901234567890Z",
    "2024-01-01T00:00:00+25:00",
    "2024-W01-1", "  ", "\x00",
    # lone surrogates, and text that is odd but valid
    Raw('"\\ud800"'), Raw('"a\\udfffb"'), Raw('"\\udbff\\udbff"'), "\u202e\u200b", "é" * 50,
    # long strings
    "A" * 100_000, "/subscriptions/" * 4000,
    # path tricks
    f"../../../../../subscriptions/{OTHER_SUBSCRIPTION}/providers/Microsoft.ResourceHealth/events/X",
    "X?api-version=2099-01-01#x", "%2e%2e", "..", ".", "x\\..\\..\\y",
    "/providers/Microsoft.Management/managementGroups/root",
    f"{_VM}/virtualMachines/vm/../../../x", f"x{_VM}/virtualMachines/vm",
    f"{_VM}/virtualMachines/v%6d", f"{_VM}/virtualMachines/v m", f"{_VM}/virtualMachines/vm",
    f"/subscriptions/{OTHER_SUBSCRIPTION}", "/subscriptions/", "<script>alert(1)</script>",
    # impactedServices strings: null, bare strings, broken, wrong shapes, surrogates inside
    "null", '"East US"', "[", "{}", "[1]", "[{}]", '[{"ServiceName": 1}]', "[" * 100_000,
    "[" + "9" * 5000 + "]", '[{"ServiceName": "VM \\ud800"}]', "[NaN]",
    '[{"ServiceName": "Virtual Machines", "ImpactedRegions": [{"RegionName": null}]}]',
    # Resource Health states
    "PlatformInitiated", "UserInitiated", "Unavailable", "Degraded", "Available", "Unknown",
]  # fmt: skip
HUGE_KEY = "k" * 100_000


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document, the root excluded."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


class Mutant:
    """A sample being mutated; ``body()`` writes it with the raw splices."""

    def __init__(self, sample: Any) -> None:
        self.document = copy.deepcopy(sample)
        self._raw: dict[str, str] = {}

    def _value(self, value: Any) -> Any:
        if isinstance(value, Raw):
            marker = f"__raw_{len(self._raw)}__"
            self._raw[marker] = value.text
            return marker
        return copy.deepcopy(value)

    def put(self, path: tuple[Any, ...], value: Any) -> None:
        parent = self.document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = self._value(value)

    def delete(self, path: tuple[Any, ...]) -> None:
        parent = self.document
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]

    def add_key(self, path: tuple[Any, ...], key: str, value: Any) -> None:
        parent = self.document
        for part in path:
            parent = parent[part]
        if isinstance(parent, dict):
            parent[key] = self._value(value)

    def body(self) -> bytes:
        text = json.dumps(self.document)
        for marker, raw in self._raw.items():
            text = text.replace(json.dumps(marker), raw)
        return text.encode("utf-8", "surrogatepass")


def mutate(sample: Any, rng: random.Random, *, max_mutations: int = 3) -> bytes:
    """One body: 1 to ``max_mutations`` random mutations of ``sample`` in random places."""
    mutant = Mutant(sample)
    for _ in range(rng.randint(1, max_mutations)):
        places = paths(mutant.document)
        if not places:
            break
        place = rng.choice(places)
        action = rng.random()
        if action < 0.75:
            mutant.put(place, rng.choice(HOSTILE))
        elif action < 0.85:
            mutant.delete(place)
        elif action < 0.95:
            mutant.add_key(
                place[:-1], rng.choice([HUGE_KEY, "", "~/", "\u0000"]), rng.choice(HOSTILE)
            )
        else:
            current = _get(mutant.document, place)
            if isinstance(current, str):
                mutant.put(place, current + rng.choice([s for s in HOSTILE if isinstance(s, str)]))
    return mutant.body()


def every_single_mutation(sample: Any) -> Iterator[tuple[tuple[Any, ...], Any, bytes]]:
    """(place, value, body) for every hostile value at every place of ``sample``."""
    for place in paths(sample):
        for value in HOSTILE:
            mutant = Mutant(sample)
            mutant.put(place, value)
            yield place, value, mutant.body()


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document
