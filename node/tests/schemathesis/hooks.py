"""schemathesis hooks for raftorch (loaded through SCHEMATHESIS_HOOKS by run.py).

- ``json_error_shape``: every 4xx/5xx answer is ``{"error": {"code": str, "message": str}}`` with
  a JSON content type, and every 503 carries ``Retry-After`` (on top of the schema check, which
  validates the same through each operation's ``default`` response).
- Long-polls are shortened: the document allows ``wait_ms`` up to 30 s (the server clamps it),
  and a watch waits 10 s when it is not given; a generated request waiting that long would
  only spend the run's time budget (and hit the request timeout).
- Generated ``X-Raftorch-Request-Id`` values get a random client id. A request id promises
  "this is a retry of that request": the server answers a reused id with the first request's
  result and does not apply the second (documented on the header). Generated ids are tiny
  and collide all the time, and a collision between two different requests is a broken
  client, not a server bug. (The server does not yet refuse such a reuse; see the report.)
"""

import json
import random

import schemathesis

#: The longest wait a generated request may ask for, in ms.
MAX_TEST_WAIT_MS = 50


_ids = random.Random()


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.query is None and case.operation.path.startswith("/v1/watch"):
        case.query = {}
    query = case.query
    if isinstance(query, dict):
        if "wait_ms" in query:
            try:
                wait = int(query["wait_ms"])
                query["wait_ms"] = max(0, min(wait, MAX_TEST_WAIT_MS))
            except (TypeError, ValueError):
                pass  # not a number: the server must answer 400
        elif case.operation.path.startswith("/v1/watch"):
            query["wait_ms"] = MAX_TEST_WAIT_MS
    headers = case.headers
    if isinstance(headers, dict):
        for name in list(headers):
            if name.lower() == "x-raftorch-request-id" and isinstance(headers[name], str):
                _client, sep, seq = headers[name].partition(":")
                if sep:
                    headers[name] = f"{_ids.getrandbits(63)}:{seq}"


@schemathesis.check
def json_error_shape(ctx, response, case):
    """Every error is the JSON error shape."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if not ctype.startswith("application/json"):
        raise AssertionError(f"error answer with content type {ctype!r}: {response.text[:200]!r}")
    try:
        body = json.loads(response.text)
    except ValueError as e:
        raise AssertionError(f"error answer is not JSON ({e}): {response.text[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)):
        raise AssertionError(f"error answer is not {{'error': {{'code', 'message'}}}}: {body!r}")
    if response.status_code == 503 and not response.headers.get("retry-after"):
        raise AssertionError("a 503 without Retry-After")
    return None
