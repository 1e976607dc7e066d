"""The Scheduled Events forwarder: a small agent that runs inside a VM (standard library only).

It polls the VM's Instance Metadata Service for Scheduled Events, notices each new, changed and
vanished event by comparing documents (``DocumentIncarnation`` says when to look), and posts
each change to the forewarn app's ``POST /api/scheduled-events``, signed with its own key. With
a drain command configured it runs it on a ``Scheduled`` event and, when the command succeeds,
approves the event so that the reboot comes after a clean drain instead of at ``NotBefore``.

It is deliberately not part of ``shared/``: it is copied onto VMs that have only a stock
``python3``, so it imports nothing outside the standard library and nothing of the app. The wire
format it posts is described in docs/operations.md ("Scheduled Events").

    ForwarderError
    ├── ConfigError        a setting is missing or malformed (the process exits 2)
    ├── ImdsError          IMDS did not answer or answered something unreadable (next poll)
    └── DeliveryError      the app did not take a post
        └── RefusedError   the app answered 400: the post itself is wrong, retrying cannot help
"""

from __future__ import annotations


class ForwarderError(Exception):
    """Base class of the forwarder's failures."""


class ConfigError(ForwarderError):
    pass


class ImdsError(ForwarderError):
    pass


class DeliveryError(ForwarderError):
    pass


class RefusedError(DeliveryError):
    pass
