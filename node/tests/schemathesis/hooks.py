"""schemathesis hooks for raftorch (loaded through SCHEMATHESIS_HOOKS by run.py).

- ``json_error_shape``: every 4xx/5xx answer is ``{"error": {"code": str, "message": str}}`` with
  a JSON content type, and every 503 carries ``Retry-After`` (on top of the schema check, which
  validates the same through each operation's ``default`` response).
- Long-polls are shortened: the document allows ``wait_ms`` up to 30 s (the server clamps it),
  and a generated request waiting that long would only spend the run's time budget.
"""

import json

import schemathesis

#: The longest wait a generated request may ask for, in ms.
MAX_TEST_WAIT_MS = 50


@schemathesis.hook
def before_call(context, case, kwargs):
    query = case.query
    if isinstance(query, dict) and "wait_ms" in query:
        try:
            wait = int(query["wait_ms"])
        except (TypeError, ValueError):
            return  # not a number: the server must answer 400
        query["wait_ms"] = max(0, min(wait, MAX_TEST_WAIT_MS))


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
