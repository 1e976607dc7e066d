"""How long a message's texts and lists may grow: the bounds facts.py and vm_facts.py cut
untrusted text to (with a marker) and count lists by, so that no Azure value, however broken or
hostile, can make a message too long to send.
"""

from __future__ import annotations

SUMMARY_LIMIT = 1200
# Display lengths, well above Azure's own (VM names ≤ 64, resource groups ≤ 90 characters):
# only hostile or broken input is ever cut.
NAME_CHARS = 100
TITLE_CHARS = 300
LINE_CHARS = 300  # notes, warnings, last operation messages
# forewarn's own reasons run to ~450 characters (the conditional "start it yourself" names what
# to tag); cutting one would cut its instruction.
REASON_CHARS = 700
MAX_NOTES = 20
MAX_REASONS = 5
MAX_PLAN_STEPS = 30
MAX_PORTAL_LINKS = 10
# A link longer than this is no Service Health link (tracking ids are ~8 characters); Slack's
# button URLs stop at 3,000.
LINK_CHARS = 1000
# Commands longer than this are not offered (a cut command would be a wrong one).
COMMAND_CHARS = 600
MAX_FACTS = 8
# Facts repeat from VM to VM; the first few hundred VMs carry every fact there is.
MAX_VM_FACTS = 500
WHAT_CHARS = 600
