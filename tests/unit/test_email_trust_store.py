"""The email sender builds a relay's trust store once, not on every send (issue 18).

Building an ``SSLContext`` parses a PEM bundle: ~40 ms of CPU for the system's, which every
email paid. The sender keeps each one, and builds it again when the file's bytes change.

    GIVEN                                         WHEN kept_trust_store is asked   THEN
    a ca_file, asked twice                        the second time                  the same
                                                                                   context, built
                                                                                   once
    the ca_file replaced by another certificate   after the change                 a new context,
                                                                                   trusting the
                                                                                   new one only
    no ca_file (the system's store), twice        the second time                  the same
                                                                                   context
    a ca_file that does not exist                 each time                        ChannelConfig-
                                                                                   Error (nothing
                                                                                   kept)
    the sender, twice for one receiver            its TLS context                  the kept one
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from shared.channels import email
from shared.channels.base import ChannelConfigError
from shared.models import Receiver
from shared.standins.tls import self_signed


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    made: list[str | None] = []
    create = ssl.create_default_context

    def counted(*, cafile: str | None = None) -> ssl.SSLContext:
        made.append(cafile)
        return create(cafile=cafile)

    monkeypatch.setattr(email.ssl, "create_default_context", counted)
    monkeypatch.setattr(email, "_STORES", {})
    return made


def test_a_ca_file_is_read_into_a_context_once(tmp_path: Path, built: list[str | None]) -> None:
    cert, _ = self_signed(tmp_path)
    first = email.kept_trust_store(str(cert))
    assert email.kept_trust_store(str(cert)) is first
    assert built == [str(cert)]


def test_a_replaced_ca_file_is_read_again(tmp_path: Path, built: list[str | None]) -> None:
    cert, _ = self_signed(tmp_path)
    first = email.kept_trust_store(str(cert))
    old = cert.read_bytes()
    self_signed(tmp_path)  # a new certificate at the same path, same size, same second
    assert cert.read_bytes() != old
    second = email.kept_trust_store(str(cert))
    assert second is not first
    assert built == [str(cert), str(cert)]
    [trusted] = second.get_ca_certs(binary_form=True)
    assert ssl.DER_cert_to_PEM_cert(trusted).strip() == cert.read_text().strip()


def test_the_system_store_is_built_once(built: list[str | None]) -> None:
    assert email.kept_trust_store(None) is email.kept_trust_store("")
    assert built == [None]


def test_a_missing_ca_file_is_refused_every_time(tmp_path: Path, built: list[str | None]) -> None:
    for _ in range(2):
        with pytest.raises(ChannelConfigError, match="does not exist"):
            email.kept_trust_store(str(tmp_path / "missing.pem"))
    assert email._STORES == {}


def test_the_sender_uses_the_kept_store(tmp_path: Path, built: list[str | None]) -> None:
    cert, _ = self_signed(tmp_path)
    receiver = Receiver(
        name="ops",
        type="email",
        targets=["ops@example.com"],
        options={"from": "forewarn@example.com", "smtp_host": "127.0.0.1", "ca_file": str(cert)},
    )
    sender = email.EmailSender({})
    assert sender._tls_context(receiver) is sender._tls_context(receiver)
    assert built == [str(cert)]
