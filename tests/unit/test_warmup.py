"""First-use work done at worker start, in the background (shared/warmup.py, issue 18).

GIVEN                                          WHEN                       THEN
two steps, the first raising                   warm_up("x", ...)          both run, in a
                                                                          daemon thread
a name already warmed up                       warm_up again              nothing runs
a fresh interpreter, the email templates       the email renderer first   no template is
prepared                                       renders                    loaded again
a fresh interpreter, Twilio prepared           a send's client reaches    no Twilio module
                                               the Messages API           is imported then
a warm-up registered, not started             start(name) twice          its steps run
                                                                          once; an unknown
                                                                          name starts nothing
a fresh interpreter                            function_app is imported   no warm-up thread
                                                                          runs; neither Jinja2
                                                                          nor Twilio's API is
                                                                          imported
function_app imported                          the enrich function gets   the route and
                                               its first message (one     delivery warm-ups
                                               it cannot read) and the    have loaded Jinja2's
                                               warm-ups end               templates and
                                                                          Twilio's API
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from shared.warmup import register, start, warm_up

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_step_runs_once_in_a_daemon_thread_a_failure_apart() -> None:
    ran: list[tuple[str, bool]] = []

    def failing() -> None:
        ran.append(("failing", threading.current_thread().daemon))
        raise RuntimeError("no")

    def second() -> None:
        ran.append(("second", threading.current_thread().daemon))

    thread = warm_up("test-steps", failing, second)
    assert thread is not None
    thread.join(10)
    assert ran == [("failing", True), ("second", True)]
    assert warm_up("test-steps", second) is None
    assert ran == [("failing", True), ("second", True)]


def test_prepared_templates_are_not_loaded_again() -> None:
    code = (
        "import json\n"
        "from shared.render import email\n"
        "email.prepare()\n"
        "loader = email._environment().loader\n"
        "loaded = []\n"
        "original = loader.get_source\n"
        "loader.get_source = lambda env, name: loaded.append(name) or original(env, name)\n"
        "from shared.models import Receiver\n"
        "from shared.render import render_message\n"
        "from shared.standins.enriched_samples import NOW, sample_enriched\n"
        "enriched = sample_enriched()\n"
        "receiver = Receiver(name='ops', type='email', targets=['a@example.com'])\n"
        "render_message(enriched, receiver, enriched.vms, NOW)\n"
        "print(json.dumps(loaded))\n"
    )
    assert _fresh(code) == []


def test_prepared_twilio_imports_nothing_at_the_first_send() -> None:
    code = (
        "import json, sys\n"
        "from shared.channels import sms\n"
        "sms.prepare()\n"
        "before = set(sys.modules)\n"
        "from twilio.http.http_client import TwilioHttpClient\n"
        "from twilio.rest import Client\n"
        "client = Client('AC1', 'token', http_client=TwilioHttpClient(), environment={})\n"
        "client.api.v2010.accounts('AC1').messages\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if 'twilio' in m)))\n"
    )
    assert _fresh(code) == []


def test_a_registered_warm_up_runs_once_when_started() -> None:
    ran: list[str] = []
    register("test-registered", lambda: ran.append("step"))
    assert ran == []
    threads = start("test-registered", "test-nobody-registered")
    assert [t.name for t in threads] == ["forewarn-warm-up-test-registered"]
    threads[0].join(10)
    assert start("test-registered") == []
    assert ran == ["step"]


def test_importing_the_app_starts_no_warm_up() -> None:
    code = (
        "import json, sys, threading, function_app\n"
        "print(json.dumps([\n"
        "    [t.name for t in threading.enumerate() if t.name.startswith('forewarn-warm-up-')],\n"
        "    sorted(m for m in ('jinja2', 'twilio.rest.api.v2010.account.message')\n"
        "           if m in sys.modules),\n"
        "]))\n"
    )
    assert _fresh(code) == [[], []]


def test_the_first_enrich_message_warms_the_route_and_delivery_stages() -> None:
    code = (
        "import json, sys, threading, function_app\n"
        "import azure.functions as func\n"
        "from functions import enrich\n"
        "try:\n"
        "    enrich.enrich_event(func.QueueMessage(body=b'not an envelope'))\n"
        "except Exception:\n"
        "    pass\n"
        "for thread in threading.enumerate():\n"
        "    if thread.name.startswith('forewarn-warm-up-'):\n"
        "        thread.join(60)\n"
        "from shared.render import email\n"
        "print(json.dumps([\n"
        "    'twilio.rest.api.v2010.account.message' in sys.modules,\n"
        "    len(email._environment().cache or {}),\n"
        "]))\n"
    )
    assert _fresh(code) == [True, 2]
