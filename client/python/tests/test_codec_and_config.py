"""No cluster needed: the codec's round trips and the validation of the failover timing."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from raftorch import JsonCodec, StateManager


def test_bot_values_round_trip():
    c = JsonCodec()
    value = {
        "last_processed_timestamp": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
        "day": dt.date(2026, 1, 2),
        "active_positions": [{"symbol": "BTC", "qty": Decimal("0.2500"), "px": Decimal("1E+5")}],
        "model_version": "v1.2.3",
        "window": dt.timedelta(seconds=90.5),
        "id": uuid.UUID(int=7),
        "raw": b"\x00\xff",
        "tags": {"a", "b"},
        "pair": (1, "x"),
        "$literal": {"$decimal": "not a tag"},
    }
    back = c.loads(c.dumps(value))
    assert back == value
    assert back["active_positions"][0]["qty"].as_tuple() == Decimal("0.2500").as_tuple()
    assert back["last_processed_timestamp"].tzinfo is not None


def test_unknown_types_are_refused_unless_the_codec_is_extended():
    class Point:
        def __init__(self, x):
            self.x = x

    with pytest.raises(TypeError):
        JsonCodec().dumps({"p": Point(1)})
    c = JsonCodec(default=lambda o: {"$point": o.x},
                  object_hook=lambda d: Point(d["$point"]) if set(d) == {"$point"} else d)
    # Keys starting with "$" are escaped, so the custom tag only comes back through the hook.
    assert c.loads(c.dumps({"p": Point(3)}))["p"] == {"$point": 3}


def test_failover_timing_is_validated_without_io():
    sm = StateManager(project_id="p", instance_id="i", region="r", endpoints=["http://127.0.0.1:9"])
    with pytest.raises(ValueError, match="third"):
        sm.configure_failover(health_check_interval=30, failover_timeout=60)
    sm.configure_failover(health_check_interval=20, failover_timeout=60)
    sm.configure_failover(health_check_interval=0.5, failover_timeout=1.5)
    with pytest.raises(ValueError):
        StateManager(project_id="p", instance_id="i", endpoints=["x:1"], health_check_interval=5, failover_timeout=6)
    with pytest.raises(ValueError):
        StateManager(project_id="bad/name", instance_id="i", endpoints=["x:1"])
    sm.close()


def test_endpoints_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("RAFTORCH_ENDPOINTS", raising=False)
    with pytest.raises(ValueError, match="RAFTORCH_ENDPOINTS"):
        StateManager(project_id="p", instance_id="i")
    monkeypatch.setenv("RAFTORCH_ENDPOINTS", "http://127.0.0.1:9, http://127.0.0.1:10")
    StateManager(project_id="p", instance_id="i").close()


def test_a_traceparent_is_generated_and_checked_without_io():
    import re

    from raftorch import new_traceparent

    a, b = new_traceparent(), new_traceparent()
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", a), a
    assert a.split("-")[1] != b.split("-")[1]
    sm = StateManager(project_id="p", instance_id="i", endpoints=["http://127.0.0.1:9"], traceparent=a)
    assert sm.traceparent == a
    sm.close()
    with pytest.raises(ValueError, match="traceparent"):
        StateManager(project_id="p", instance_id="i", endpoints=["http://127.0.0.1:9"], traceparent="00-nope")
