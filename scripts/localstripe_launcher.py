#!/usr/bin/env python3
"""Run localstripe with the patches AstroBookings needs.

localstripe (PyPI) lags Stripe's current schema, and async-stripe 1.0 refuses
some of the objects it returns. This launcher patches localstripe's resource
classes in-process, then serves it exactly like ``python -m localstripe``.

Patches (see shared/design/STACK.md, "Local servers"):

* ``PaymentIntent._export``: fills the fields async-stripe requires and that
  localstripe leaves out -- ``amount_capturable``, ``amount_received``,
  ``confirmation_method`` (``automatic``) and ``payment_method_types``
  (``["card"]``) -- and returns ``latest_charge`` as an id (as Stripe does),
  unless the caller asked for ``expand[]=latest_charge``. A
  ``last_payment_error`` also gets the ``type`` (``card_error``) Stripe always
  sends.
* ``PaymentIntent.__init__``: accepts the creation parameters FinanceAPI
  sends to the real API and localstripe does not know -- ``description``
  and ``receipt_email`` (kept and returned, as Stripe does) and
  ``automatic_payment_methods`` (accepted and ignored: localstripe only
  charges cards and never redirects). Without ``allow_redirects=never``
  Stripe refuses a server-side confirm that has no ``return_url``.
* ``Event._export``: adds ``pending_webhooks`` and ``request``. Webhook
  payloads are built with ``Event._export`` too, so they get the same fields.
* ``errors.UserError``: a 402 (card declined) is typed ``card_error`` instead
  of ``invalid_request_error``, as Stripe does.
* ``Store``: localstripe pickles its whole state after every write to the
  fixed path ``/tmp/localstripe.pickle`` (shared by every instance on the
  machine). The launcher moves that file to ``$TMPDIR/localstripe.pickle``
  (``tempfile.gettempdir()``), so instances started with different TMPDIRs
  (./dev gives each environment its own) never share state. ``--no-persist``
  disables the pickle entirely (every write otherwise re-pickles the whole
  store, which grows slow in long test runs).
* Listening: localstripe binds ``[::]`` (every interface); the launcher binds
  ``--host`` (default 127.0.0.1).

Usage::

    python scripts/localstripe_launcher.py --port 8420 --from-scratch \
        [--host 127.0.0.1] [--no-persist]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import pickle
import socket
import sys
import tempfile

from aiohttp import web

from localstripe import errors as ls_errors
from localstripe import resources as ls_resources
from localstripe import server as ls_server

PaymentIntent = ls_resources.PaymentIntent
Event = ls_resources.Event
Store = ls_resources.Store
UserError = ls_errors.UserError


# --------------------------------------------------------------------------
# PaymentIntent
# --------------------------------------------------------------------------

def _wants_expanded(expand, field):
    if not expand or not isinstance(expand, list):
        return False
    return any(
        isinstance(p, str) and (p == field or p.startswith(field + "."))
        for p in expand
    )


def _patch_payment_intent():
    original = PaymentIntent._export

    @functools.wraps(original)
    def _export(self, expand=None):
        obj = original(self, expand=expand)
        charge = self.latest_charge
        status = obj.get("status")

        if "amount_capturable" not in obj:
            if status == "requires_capture" and charge is not None:
                obj["amount_capturable"] = charge.amount
            else:
                obj["amount_capturable"] = 0
        if "amount_received" not in obj:
            if status == "succeeded" and charge is not None:
                # localstripe records a partial capture as a refund of the
                # rest; it cannot be told apart from later refunds, so this
                # is the charged amount (exact for full captures).
                obj["amount_received"] = charge.amount
            else:
                obj["amount_received"] = 0
        obj.setdefault("confirmation_method", "automatic")
        if not obj.get("payment_method_types"):
            obj["payment_method_types"] = ["card"]
        obj.setdefault("description", None)
        obj.setdefault("canceled_at", None)
        obj.setdefault("cancellation_reason", None)

        lc = obj.get("latest_charge")
        if isinstance(lc, dict) and not _wants_expanded(expand, "latest_charge"):
            obj["latest_charge"] = lc.get("id")

        err = obj.get("last_payment_error")
        if isinstance(err, dict) and "type" not in err:
            err = dict(err)
            err["type"] = "card_error"
            obj["last_payment_error"] = err
        return obj

    PaymentIntent._export = _export


def _patch_payment_intent_create():
    original_init = PaymentIntent.__init__

    @functools.wraps(original_init)
    def __init__(self, description=None, receipt_email=None,
                 automatic_payment_methods=None, **kwargs):
        if (not isinstance(description, (str, type(None)))
                or not isinstance(receipt_email, (str, type(None)))
                or not isinstance(automatic_payment_methods,
                                  (dict, type(None)))):
            raise UserError(400, 'Bad request')
        original_init(self, **kwargs)
        self.description = description
        self.receipt_email = receipt_email

    PaymentIntent.__init__ = __init__


# --------------------------------------------------------------------------
# Event
# --------------------------------------------------------------------------

def _patch_event():
    original = Event._export

    @functools.wraps(original)
    def _export(self, expand=None):
        obj = original(self, expand=expand)
        obj.setdefault("pending_webhooks", 0)
        obj.setdefault("request", {"id": None, "idempotency_key": None})
        return obj

    Event._export = _export


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

def _patch_user_error():
    original_init = UserError.__init__

    @functools.wraps(original_init)
    def __init__(self, code, message=None, contents=None):
        original_init(self, code, message, contents)
        if code == 402:
            self.body["error"]["type"] = "card_error"

    UserError.__init__ = __init__


# --------------------------------------------------------------------------
# Store (pickle location)
# --------------------------------------------------------------------------

def _patch_store(persist: bool):
    path = os.path.join(tempfile.gettempdir(), "localstripe.pickle")

    def try_load_from_disk(self):
        try:
            with open(path, "rb") as f:
                old = pickle.load(f)
        except FileNotFoundError:
            return
        self.clear()
        self.update(old)

    def dump_to_disk(self):
        if not persist:
            return
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    Store.try_load_from_disk = try_load_from_disk
    Store.dump_to_disk = dump_to_disk
    return path


def apply_patches(persist: bool = True) -> str:
    """Apply every patch; returns the pickle path in use."""
    _patch_payment_intent()
    _patch_payment_intent_create()
    _patch_event()
    _patch_user_error()
    return _patch_store(persist)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--from-scratch", action="store_true",
                        help="do not load the previous state from the pickle")
    parser.add_argument("--no-persist", action="store_true",
                        help="never write the state to the pickle")
    args = parser.parse_args(argv)

    pickle_path = apply_patches(persist=not args.no_persist)
    if not args.from_scratch:
        ls_resources.store.try_load_from_disk()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))

    logger = logging.getLogger("aiohttp.access")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logging.StreamHandler())
    print(
        f"localstripe (patched) on http://{args.host}:{args.port}/ "
        f"state={'none' if args.no_persist else pickle_path} "
        f"from_scratch={args.from_scratch}",
        file=sys.stderr, flush=True,
    )

    web.run_app(ls_server.app, sock=sock, access_log=logger, print=None)


if __name__ == "__main__":
    main()
