"""Event sourcing (append_event / events), watch_state across a kill -9 of the raftorch leader
node, and the asyncio flavour, against a real 3-node cluster."""

import asyncio
import datetime as dt
import threading
import time
from decimal import Decimal

import pytest

from raftorch import Event, LockTimeoutError, NotLeaderError, StateManager, UnavailableError
from raftorch.aio import AsyncStateManager

TTL = 3.0
INTERVAL = 0.5


def manager(cluster, instance, project="streams", cls=StateManager):
    sm = cls(project_id=project, instance_id=instance, region="test", endpoints=cluster.endpoints)
    sm.configure_failover(health_check_interval=INTERVAL, failover_timeout=TTL)
    return sm


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def test_event_sourcing_round_trip(cluster):
    a, b = manager(cluster, "a"), manager(cluster, "b")
    try:
        a.start()
        assert wait_for(a.is_leader, 10)
        b.start()
        orders = [{"id": i, "at": dt.datetime(2026, 1, 2, 3, 4, i, tzinfo=dt.timezone.utc),
                   "qty": Decimal(f"{i}.50")} for i in range(1, 6)]
        seqs = [a.append_event("orders", o) for o in orders]
        assert seqs == [1, 2, 3, 4, 5]
        got = b.events("orders")
        assert [e.seq for e in got] == seqs
        assert [e.data for e in got] == orders
        assert all(isinstance(e, Event) and e.revision > 0 for e in got)
        assert [e.seq for e in b.events("orders", after=3)] == [4, 5]
        assert b.events("no-such-stream") == []
        # A follower's fenced append is refused; unfenced appends go on after the leader's.
        with pytest.raises(NotLeaderError):
            b.append_event("orders", {"id": -1})
        assert b.append_event("orders", {"id": 6}, fenced=False) == 6
        # Two writers racing on one stream: dense, unique sequence numbers, nothing lost.
        results = {"a": [], "b": []}

        def writer(sm, name):
            for i in range(10):
                results[name].append(sm.append_event("race", {"w": name, "i": i}, fenced=False))

        threads = [threading.Thread(target=writer, args=(sm, n)) for sm, n in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results["a"] + results["b"]) == list(range(1, 21))
        race = a.events("race")
        assert [e.seq for e in race] == list(range(1, 21))
        for name in "ab":
            mine = [e.data["i"] for e in race if e.data["w"] == name]
            assert mine == list(range(10)), (name, mine)
        with pytest.raises(ValueError):
            a.events("bad/stream")
    finally:
        a.close()
        b.close()


def test_watch_state_loses_no_save_across_a_kill9_of_the_raftorch_leader(cluster):
    node = cluster.wait_leader()
    leader_sm = manager(cluster, "writer", "watched")
    # The watcher reads from the raftorch leader node first: the node the test kills.
    first = [f"http://{cluster.api[node]}"] + [e for e in cluster.endpoints if not e.endswith(cluster.api[node])]
    watcher = StateManager(project_id="watched", instance_id="reader", region="test", endpoints=first)
    seen = []
    seen_cv = threading.Condition()

    def on_state(state):
        with seen_cv:
            seen.append(None if state is None else state["n"])
            seen_cv.notify_all()

    try:
        leader_sm.start()
        assert wait_for(leader_sm.is_leader, 10)
        leader_sm.save_state({"n": 0})
        w = watcher.watch_state(on_state)
        with seen_cv:
            assert seen_cv.wait_for(lambda: seen == [0], 5), seen
        acked, unknown = [], []
        for n in range(1, 61):
            if n == 20:
                cluster.procs[node].kill()
                cluster.procs[node].wait()
            try:
                leader_sm.save_state({"n": n})
                acked.append(n)
            except UnavailableError:
                unknown.append(n)  # its outcome is unknown: it may or may not be applied
            time.sleep(0.02)
        assert len(acked) >= 40, (acked, unknown)
        last = acked[-1]
        with seen_cv:
            assert seen_cv.wait_for(lambda: last in seen, 15), (last, seen)
        time.sleep(0.5)  # a save whose answer was lost may still show up
        got = seen[1:]
        assert got == sorted(set(got)), f"repeated or out of order: {got}"
        missing = [n for n in acked if n not in got]
        assert not missing, f"the watch lost saves {missing} (saw {got})"
        assert set(got) <= set(acked) | set(unknown)
        assert any(n > 20 for n in got), "no save seen after the kill"
        w.stop()
    finally:
        leader_sm.close()
        watcher.close()


def test_the_asyncio_flavour_runs_off_the_event_loop(cluster):
    holder = manager(cluster, "holder", "aio")

    async def main():
        async with manager(cluster, "async-1", "aio", cls=AsyncStateManager) as sm:
            await sm.start()
            deadline = time.monotonic() + 10
            while not sm.is_leader() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert sm.is_leader() and sm.term() is not None
            await sm.save_state({"v": Decimal("1.25")})
            assert await sm.get_state() == {"v": Decimal("1.25")}
            assert await sm.append_event("log", {"k": 1}) == 1
            assert [e.data for e in await sm.events("log")] == [{"k": 1}]
            states = []
            watch = await sm.watch_state(states.append)
            await sm.save_state({"v": 2})
            while len(states) < 2 and time.monotonic() < deadline + 5:
                await asyncio.sleep(0.02)
            assert states == [{"v": Decimal("1.25")}, {"v": 2}], states
            watch.stop()

            # A call that blocks for 0.5 s must leave the loop free: a ticker keeps ticking.
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            with holder.lock("shared", timeout=5):
                task = asyncio.ensure_future(ticker())
                start = time.monotonic()
                with pytest.raises(LockTimeoutError):
                    async with sm.lock("shared", timeout=0.5):
                        pass
                waited = time.monotonic() - start
                task.cancel()
            assert waited >= 0.45 and ticks >= 20, (waited, ticks)
            async with sm.lock("shared", timeout=5) as token:
                assert token > 0
            results = await asyncio.gather(*(sm.get_state() for _ in range(8)))
            assert results == [{"v": 2}] * 8

    try:
        asyncio.run(main())
    finally:
        holder.close()
