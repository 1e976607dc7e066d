"""What ``forewarn silence add`` says it holds: only what forewarn's records show.

Found in an outside review of issue 16: on a fresh local world (no notice received yet), adding a
silence for ``vm=web-01,vm=web-02`` said "holds 0 VMs with open maintenance now", while both VMs
had maintenance planned in ARM and ``forewarn route`` held both back. The count comes from the
maintenance records (the VMs forewarn follows), so the sentence must say that, and must not
call a silence that matches nothing yet a mistyped one when forewarn follows no VM at all.
"""

from __future__ import annotations

import pytest

from shared.cli.silence_command import held_line


@pytest.mark.parametrize(
    ("held", "followed", "said"),
    [
        # GIVEN held names, VMs followed   THEN add says
        (
            ["app-1", "app-3"],
            4,
            "holds 2 of the 4 VMs forewarn follows with open maintenance: app-1, app-3",
        ),
        (
            [],
            4,
            "holds none of the 4 VMs forewarn follows with open maintenance"
            " (check --match if you expected some)",
        ),
        (
            [],
            0,
            "holds no VM forewarn follows now: it follows none with open maintenance yet;"
            " matching VMs are held from the first notice that names them",
        ),
        (
            [f"vm-{n:02}" for n in range(12)],
            12,
            "holds 12 of the 12 VMs forewarn follows with open maintenance: vm-00, vm-01,"
            " vm-02, vm-03, vm-04, vm-05, vm-06, vm-07, vm-08, vm-09 and 2 more",
        ),
    ],
)
def test_add_says_what_it_holds_of_what_forewarn_follows(
    held: list[str], followed: int, said: str
) -> None:
    # WHEN the line is made  THEN it claims nothing the records do not hold
    assert held_line(held, followed) == said
