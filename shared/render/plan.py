"""The maintenance plan as chat lines, shared by the Slack and Teams renderers.

Both say the same thing per step (when it starts, what its VMs share: "update domain 0",
"zone 2", "VM sql-01", which VMs and how many more), then the step's pasteable
``forewarn start-maintenance`` line and, beside it, each VM's plain ``az vm
perform-maintenance`` line (anyone can act, forewarn installed or not), and its signed "Start
now" link when Start from the message is on (shared/start/); each channel brings
its own escaping, code style and step label. Email lays the plan out differently (wrapped plain
text) and keeps its own loop.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.render.facts import MessageFacts
from shared.render.text import names_within

# Characters of VM names listed per step before "and N more".
STEP_NAMES_CHARS = 300


# Steps of more VMs than this show no command: a line that long is not pasted by hand.
COMMAND_VMS = 5
# The words before a plan step's signed link (Start from the message, shared/start/).
START_NOW = "Start now (sign-in, then confirm)"


def plan_lines(
    facts: MessageFacts,
    escape: Callable[[str], str],
    step_label: str,
    code: Callable[[str], str] | None = None,
) -> list[str]:
    """One line per plan step (and its command when ``code`` formats one), then one per plan
    warning; untrusted text goes through ``escape``.

    ``step_label`` is the channel's numbering, formatted with the step's number: ``"{}."``.
    """
    lines: list[str] = []
    for step in facts.plan:
        names, more = names_within(step.vm_names, STEP_NAMES_CHARS)
        lines.append(
            f"{step_label.format(step.order)} {escape(step.start)} · {escape(step.label)} · "
            f"{escape(names)}" + (f" and {more} more" if more else "")
        )
        if code is not None and step.command and len(step.vm_ids) <= COMMAND_VMS:
            lines.append(code(step.command))
            lines.extend(code(line) for line in step.az_commands)
        if step.start_url:
            # Signed by forewarn (base64url and dots only): nothing in it to escape.
            lines.append(f"{START_NOW}: {step.start_url}")
    if facts.plan_steps_omitted:
        lines.append(f"and {facts.plan_steps_omitted} more steps")
    lines += ["⚠ " + escape(warning) for warning in facts.plan_warnings]
    return lines
