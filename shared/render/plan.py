"""The maintenance plan as chat lines, shared by the Slack and Teams renderers.

Both say the same thing per step (when it starts, which update domain, which VMs, and how many
more); each channel brings its own escaping and its own step label. Email lays the plan out
differently (wrapped plain text) and keeps its own loop.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.render.facts import MessageFacts
from shared.render.text import names_within

# Characters of VM names listed per step before "and N more".
STEP_NAMES_CHARS = 300


def plan_lines(facts: MessageFacts, escape: Callable[[str], str], step_label: str) -> list[str]:
    """One line per plan step, then one per plan warning; untrusted text goes through ``escape``.

    ``step_label`` is the channel's numbering, formatted with the step's number: ``"{}."``.
    """
    lines: list[str] = []
    for step in facts.plan:
        names, more = names_within(step.vm_names, STEP_NAMES_CHARS)
        domain = f"UD {step.update_domain}" if step.update_domain is not None else "no UD"
        lines.append(
            f"{step_label.format(step.order)} {escape(step.start)} · {domain} · {escape(names)}"
            + (f" and {more} more" if more else "")
        )
    if facts.plan_steps_omitted:
        lines.append(f"and {facts.plan_steps_omitted} more steps")
    lines += ["⚠ " + escape(warning) for warning in facts.plan_warnings]
    return lines
