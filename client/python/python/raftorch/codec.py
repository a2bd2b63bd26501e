"""JSON codecs for saved state.

The default :class:`JsonCodec` keeps the types a trading bot saves: ``datetime``, ``date``,
``time`` and ``timedelta``, ``Decimal``, ``UUID``, ``bytes``, ``set``/``frozenset`` and tuples
survive a save/get round trip. Each is written as a one-key object with a ``$`` tag::

    {"$datetime": "2026-01-02T03:04:05.000006+00:00"}   # isoformat, tz kept when present
    {"$date": "2026-01-02"}     {"$time": "03:04:05"}      {"$timedelta": 1.5}   # seconds
    {"$decimal": "12.3400"}      {"$uuid": "..."}           {"$bytes": "<base64>"}
    {"$set": [...]}              {"$tuple": [...]}

An object whose only key starts with ``$`` but is not a known tag, or a real key that starts
with ``$``, is escaped as ``{"$obj": [[key, value], ...]}`` so that user data never collides with a tag.

Any object with ``dumps(value) -> str`` and ``loads(text) -> value`` is a codec: pass it as
``StateManager(codec=...)`` (e.g. to use orjson, or pickle-free custom types).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import uuid
from decimal import Decimal
from typing import Any, Callable, Dict, Optional, Protocol


class Codec(Protocol):
    """What a state codec provides."""

    def dumps(self, value: Any) -> str: ...

    def loads(self, text: str) -> Any: ...


def _tagged(tag: str, value: Any) -> Dict[str, Any]:
    return {tag: value}


class JsonCodec:
    """JSON with tagged datetime/Decimal/... values (see the module doc).

    ``default`` and ``object_hook`` extend it for more types: ``default(obj)`` returns a
    JSON-able value (for instance a tagged dict) or raises ``TypeError``; ``object_hook(d)``
    turns such a dict back (return ``d`` unchanged if it is not yours).
    """

    def __init__(
        self,
        default: Optional[Callable[[Any], Any]] = None,
        object_hook: Optional[Callable[[Dict[str, Any]], Any]] = None,
        sort_keys: bool = True,
    ) -> None:
        self._default = default
        self._hook = object_hook
        self._sort_keys = sort_keys

    def _encode(self, v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, dict):
            out = {str(k): self._encode(x) for k, x in v.items()}
            if any(k.startswith("$") for k in out):
                # As pairs, so the decoder never mistakes a user key for a tag.
                return {"$obj": [[k, x] for k, x in out.items()]}
            return out
        if isinstance(v, list):
            return [self._encode(x) for x in v]
        if isinstance(v, tuple):
            return _tagged("$tuple", [self._encode(x) for x in v])
        if isinstance(v, (set, frozenset)):
            items = [self._encode(x) for x in v]
            try:
                items.sort(key=lambda x: json.dumps(x, sort_keys=True))
            except TypeError:
                pass
            return _tagged("$set", items)
        if isinstance(v, _dt.datetime):
            return _tagged("$datetime", v.isoformat())
        if isinstance(v, _dt.date):
            return _tagged("$date", v.isoformat())
        if isinstance(v, _dt.time):
            return _tagged("$time", v.isoformat())
        if isinstance(v, _dt.timedelta):
            return _tagged("$timedelta", v.total_seconds())
        if isinstance(v, Decimal):
            return _tagged("$decimal", str(v))
        if isinstance(v, uuid.UUID):
            return _tagged("$uuid", str(v))
        if isinstance(v, (bytes, bytearray)):
            return _tagged("$bytes", base64.b64encode(bytes(v)).decode("ascii"))
        if self._default is not None:
            return self._encode(self._default(v))
        raise TypeError(f"cannot save a {type(v).__name__}: pass JsonCodec(default=...) or a codec")

    def _decode(self, d: Dict[str, Any]) -> Any:
        if len(d) == 1:
            (tag, v), = d.items()
            if tag == "$obj":
                return {k: x for k, x in v}
            if tag == "$datetime":
                return _dt.datetime.fromisoformat(v)
            if tag == "$date":
                return _dt.date.fromisoformat(v)
            if tag == "$time":
                return _dt.time.fromisoformat(v)
            if tag == "$timedelta":
                return _dt.timedelta(seconds=v)
            if tag == "$decimal":
                return Decimal(v)
            if tag == "$uuid":
                return uuid.UUID(v)
            if tag == "$bytes":
                return base64.b64decode(v)
            if tag == "$set":
                return set(v)
            if tag == "$tuple":
                return tuple(v)
        return self._hook(d) if self._hook is not None else d

    def dumps(self, value: Any) -> str:
        """Encodes ``value`` as JSON text."""
        return json.dumps(self._encode(value), sort_keys=self._sort_keys, separators=(",", ":"))

    def loads(self, text: str) -> Any:
        """Decodes JSON text written by :meth:`dumps`."""
        return json.loads(text, object_hook=self._decode)
