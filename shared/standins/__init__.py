"""Loopback stand-ins for local use and tests, never for production.

Each stand-in speaks the protocol of the Azure part or receiver it replaces (ARM, Log Analytics,
Entra's JWKS, SMTP, Twilio, Slack, Teams, a customer's webhook, PagerDuty's Events API v2) on
127.0.0.1, shaped on the real samples in ``samples/`` (see the SOURCES.md files there) or, for
PagerDuty, on its public API documentation. Their worlds come with them: a
generated VM fleet (``arm_fleet``), activity and CPU rows for Log Analytics, sample enriched
events, mutated sample alerts, and the whole local stack of Azurite, dev host and receivers.

``forewarn demo``, ``forewarn serve``, ``forewarn stand-in``, the benchmarks and the tests all
import them from here. The Function App never does: ``.funcignore`` leaves this package out of
the deployment, and the import contract in ``pyproject.toml`` forbids ``functions`` to import it.
The SMTP stand-in needs aiosmtpd, which the deployment does not install; it is imported only
when that stand-in starts (``pip install forewarn[standins]`` or requirements-dev.txt bring it).
"""
