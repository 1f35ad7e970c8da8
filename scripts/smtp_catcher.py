#!/usr/bin/env python3
"""An SMTP server for development and tests that writes every message to a folder.

Run it through aiosmtpd (this is how ./dev starts it)::

    ASTRO_MAIL_DIR=.data/dev/mail PYTHONPATH=scripts \
        python -m aiosmtpd -n -u -l 127.0.0.1:2525 -c smtp_catcher.MailFolder

or on its own: ``python scripts/smtp_catcher.py --port 2525 [--dir DIR]``.

Each accepted message becomes two files in the folder ``$ASTRO_MAIL_DIR``:

* ``<unix-nanos>-<uuid>.eml``: the message as received (RFC 5322 bytes),
* ``<unix-nanos>-<uuid>.json``: ``{"mail_from", "rcpt_tos", "subject",
  "received_at"}`` (``received_at`` in RFC 3339, UTC).

Both are written atomically (a hidden temporary file, then a rename), the
``.eml`` first, so a reader that sees a ``.json`` can read its ``.eml``.

Fault injection, for tests of retries and bounces: when the file
``<folder>/../smtp-faults.json`` exists (re-read for every recipient and
message, so a test can change it between two), e.g.::

    {"451_ratio": 0.1, "554_recipients": ["blocked@example.com"],
     "451_recipients": ["busy@example.com"]}

then recipients are compared case-insensitively and

* a recipient listed in ``554_recipients`` is refused at ``RCPT TO`` with
  ``554 5.7.1 rejected`` (a permanent failure: a bounce),
* a recipient listed in ``451_recipients`` is refused at ``RCPT TO`` with
  ``451 4.2.1 mailbox busy, try later`` (a transient failure that persists
  for as long as the file says so: retries that never succeed),
* the share of messages given by ``451_ratio`` (0.0 to 1.0, chosen at
  random) is refused at the end of ``DATA`` with ``451 4.3.0 try again later``;

a refused message is not written (a refused recipient is left out of the
message's ``rcpt_tos``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import email.header
import email.parser
import email.policy
import json
import logging
import os
import random
import sys
import time
import uuid
from pathlib import Path

log = logging.getLogger("smtp_catcher")

FAULTS_FILE = "smtp-faults.json"


def _decode_subject(raw: bytes) -> str | None:
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        subject = headers.get("Subject")
        if subject is None:
            return None
        return str(subject)
    except Exception:  # a malformed header must not lose the message
        try:
            headers = email.parser.BytesHeaderParser().parsebytes(raw)
            subject = headers.get("Subject")
            if subject is None:
                return None
            return str(email.header.make_header(email.header.decode_header(subject)))
        except Exception:
            return None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)  # no fsync: readers need atomicity (rename), not crash durability
    os.replace(tmp, path)


class MailFolder:
    """aiosmtpd handler: accept everything (but injected faults), save to a folder."""

    def __init__(self, folder: str | os.PathLike | None = None):
        folder = folder or os.environ.get("ASTRO_MAIL_DIR")
        if not folder:
            raise SystemExit("smtp_catcher: set ASTRO_MAIL_DIR (or pass the folder)")
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        if not os.environ.get("ASTRO_SMTP_DEBUG"):
            # aiosmtpd logs every SMTP command at INFO: too much for load tests.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.faults_path = self.folder.parent / FAULTS_FILE
        log.info("saving mail to %s (faults from %s)", self.folder, self.faults_path)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) > 1:
            parser.error("smtp_catcher.MailFolder takes at most one argument: the folder")
        return cls(args[0] if args else None)

    # -- fault injection -------------------------------------------------
    def _faults(self) -> dict:
        try:
            with open(self.faults_path, "rb") as f:
                faults = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable %s: %s", self.faults_path, e)
            return {}
        return faults if isinstance(faults, dict) else {}

    # -- SMTP hooks ------------------------------------------------------
    @staticmethod
    def _listed(faults: dict, key: str, address: str) -> bool:
        listed = faults.get(key) or []
        if not isinstance(listed, list):
            return False
        return address.lower() in {str(r).lower() for r in listed}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        faults = self._faults()
        if self._listed(faults, "554_recipients", address):
            log.info("fault: 554 for recipient %s", address)
            return "554 5.7.1 rejected"
        if self._listed(faults, "451_recipients", address):
            log.info("fault: 451 for recipient %s", address)
            return "451 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        faults = self._faults()
        try:
            ratio = float(faults.get("451_ratio") or 0.0)
        except (TypeError, ValueError):
            ratio = 0.0
        if ratio > 0 and random.random() < ratio:
            log.info("fault: 451 for message from %s to %s", envelope.mail_from, envelope.rcpt_tos)
            return "451 4.3.0 try again later"

        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        now_ns = time.time_ns()
        stem = f"{now_ns}-{uuid.uuid4()}"
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": _decode_subject(content),
            "received_at": _dt.datetime.fromtimestamp(now_ns / 1e9, _dt.timezone.utc)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.folder / f"{stem}.eml", content)
            _atomic_write(
                self.folder / f"{stem}.json",
                (json.dumps(meta, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
            )
        except OSError as e:
            log.error("could not save message: %s", e)
            return "451 4.3.0 local error in processing"
        log.info("saved %s.eml from %s to %s", stem, envelope.mail_from, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def main(argv=None) -> None:
    from aiosmtpd.smtp import SMTP

    parser = argparse.ArgumentParser(description="SMTP catcher writing messages to a folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", default=None, help="mail folder (default: $ASTRO_MAIL_DIR)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    handler = MailFolder(args.dir)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(
            lambda: SMTP(handler, enable_SMTPUTF8=True), host=args.host, port=args.port
        )
        print(f"smtp_catcher on {args.host}:{args.port} -> {handler.folder}", file=sys.stderr, flush=True)
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
