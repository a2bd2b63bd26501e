"""A cluster with TLS and tokens (as `raftorch dev --secure` starts one): the state manager
reaches it with ``token=`` and ``cacert=``; ``https://`` endpoints without a CA are refused."""

import time

import pytest

from raftorch import StateManager


def test_state_manager_speaks_https_with_cacert_and_token(secure_cluster):
    sm = StateManager(project_id="tls-bot", instance_id="instance-1",
                      endpoints=secure_cluster.endpoints, token=secure_cluster.token,
                      cacert=secure_cluster.cacert)
    try:
        deadline = time.monotonic() + 10
        while not sm.is_leader() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sm.is_leader()
        sm.save_state({"model_version": "v-tls"})
        assert sm.get_state()["model_version"] == "v-tls"
    finally:
        sm.close()


def test_https_endpoints_without_cacert_are_refused(monkeypatch):
    monkeypatch.delenv("RAFTORCH_CACERT", raising=False)
    with pytest.raises(ValueError, match="RAFTORCH_CACERT"):
        StateManager(project_id="tls-bot", instance_id="instance-2",
                     endpoints=["https://127.0.0.1:1"], token="t" * 32)
    with pytest.raises(ValueError, match="not a file"):
        StateManager(project_id="tls-bot", instance_id="instance-3",
                     endpoints=["https://127.0.0.1:1"], cacert="/no/such/ca.pem")
