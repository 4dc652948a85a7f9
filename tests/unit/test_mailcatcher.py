"""The dev mail server's outbox: one file per message, named by report reference."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from signpost.mailcatcher import REFERENCE_HEADER, Outbox


def raw(reference: str | None) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "test"
    if reference:
        msg[REFERENCE_HEADER] = reference
    msg.set_content("hello")
    return msg.as_bytes()


def test_a_second_message_for_a_reference_gets_a_suffix(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "out")
    for _ in range(3):
        outbox.keep(raw("SP-AAAA-BBBB-CCCC"))
    outbox.keep(raw("../../etc/passwd"))
    outbox.keep(raw(None))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["SP-AAAA-BBBB-CCCC.eml", "SP-AAAA-BBBB-CCCC-2.eml",
                            "SP-AAAA-BBBB-CCCC-3.eml", "______etc_passwd.eml", "no-reference.eml"])
    assert len(outbox.messages) == 5
