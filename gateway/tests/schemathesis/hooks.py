"""Schemathesis hooks for the gateway's REST surface (loaded with SCHEMATHESIS_HOOKS).

`not_a_server_error` is replaced by `no_server_error_but_unbuilt_rpcs`: the one documented
exception is an RPC that its service has not built yet, which the service itself answers
UNIMPLEMENTED (gRPC code 12, HTTP 501). Any other 5xx, in particular one produced by the
gateway for a client's input, fails the run.
"""

import json
import os

import schemathesis


@schemathesis.check
def no_server_error_but_unbuilt_rpcs(ctx, response, case):
    if response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = {}
    if response.status_code == 501 and body.get("code") == 12:
        return None
    raise AssertionError(
        f"server error {response.status_code}: {response.content[:300]!r}"
    )


# Real access tokens, one per role, from the test that runs schemathesis (it registers or
# creates a user of each role in the mesh under test): `{"ROLE_TRAVELER": "<jwt>", ...}`.
TOKENS = json.loads(os.environ.get("ASTRO_SCHEMATHESIS_TOKENS", "{}"))


@schemathesis.hook
def before_call(context, case, kwargs):
    """Replaces the bearer token schemathesis generated with a valid one of a role the
    operation allows (its `x-roles`), so protected operations are exercised past
    authentication. A request sent without the header (schemathesis checking that missing
    auth is refused) is left without it."""
    definition = case.operation.definition.raw
    headers = case.headers or {}
    name = next((key for key in headers if key.lower() == "authorization"), None)
    if not definition.get("security") or name is None:
        return
    roles = definition.get("x-roles") or ["ROLE_TRAVELER"]
    token = next((TOKENS[role] for role in roles if role in TOKENS), None)
    if token:
        case.headers = {**headers, name: f"Bearer {token}"}
