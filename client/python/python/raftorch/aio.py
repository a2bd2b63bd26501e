"""The asyncio flavour: the same StateManager with awaitable I/O methods.

Each awaitable runs the blocking call in the loop's default executor, so the event loop keeps
running while it waits (the native calls release the GIL). ``is_leader()`` and ``term()`` stay
synchronous: they do no I/O. Callbacks (``watch_leader``, ``watch_state``) run on their own
threads as in the sync API; to run a coroutine from one, hand it to your loop with
``asyncio.run_coroutine_threadsafe``::

    sm = AsyncStateManager(project_id="bot", instance_id="i-1", endpoints=[...])
    sm.configure_failover(health_check_interval=1, failover_timeout=3)
    await sm.start()
    if sm.is_leader():
        await sm.save_state({"n": 1})
        seq = await sm.append_event("orders", {"id": 7})
    async with sm.lock("positions", timeout=5) as token:
        ...
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, AsyncIterator, Callable, List, Optional, TypeVar

import contextlib

from . import Seconds, StateManager as _SyncStateManager, TermCallback
from .streams import Event, StateWatch

T = TypeVar("T")


class AsyncStateManager:
    """``await sm.save_state(...)``, ``await sm.get_state()``, ... around
    :class:`raftorch.StateManager` (same arguments; the sync manager is ``.sync``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sync = _SyncStateManager(*args, **kwargs)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def start(self) -> None:
        """Starts campaigning (once)."""
        await self._run(self.sync.start)

    def is_leader(self) -> bool:
        """See :meth:`raftorch.StateManager.is_leader` (no I/O)."""
        return self.sync.is_leader()

    def term(self) -> Optional[int]:
        """See :meth:`raftorch.StateManager.term`."""
        return self.sync.term()

    def watch_leader(self, on_become_leader: Optional[TermCallback] = None,
                     on_lose_leadership: Optional[TermCallback] = None) -> None:
        """See :meth:`raftorch.StateManager.watch_leader` (callbacks on their own thread)."""
        self.sync.watch_leader(on_become_leader, on_lose_leadership)

    def configure_failover(self, health_check_interval: Seconds, failover_timeout: Seconds,
                           recovery_callback: Optional[Callable[[Any], Any]] = None) -> None:
        """See :meth:`raftorch.StateManager.configure_failover`."""
        self.sync.configure_failover(health_check_interval, failover_timeout, recovery_callback)

    async def save_state(self, state: Any) -> int:
        """See :meth:`raftorch.StateManager.save_state`."""
        return await self._run(self.sync.save_state, state)

    async def get_state(self) -> Any:
        """See :meth:`raftorch.StateManager.get_state`."""
        return await self._run(self.sync.get_state)

    async def trigger_failover(self, target_instance: str) -> int:
        """See :meth:`raftorch.StateManager.trigger_failover`."""
        return await self._run(self.sync.trigger_failover, target_instance)

    async def append_event(self, stream: str, obj: Any, *, fenced: bool = True) -> int:
        """See :meth:`raftorch.StateManager.append_event`."""
        return await self._run(self.sync.append_event, stream, obj, fenced=fenced)

    async def events(self, stream: str, after: int = 0) -> List[Event]:
        """See :meth:`raftorch.StateManager.events`."""
        return await self._run(self.sync.events, stream, after)

    async def watch_state(self, callback: Callable[[Any], Any], *, initial: bool = True) -> StateWatch:
        """See :meth:`raftorch.StateManager.watch_state` (the callback runs on its own thread)."""
        return await self._run(self.sync.watch_state, callback, initial=initial)

    @contextlib.asynccontextmanager
    async def lock(self, name: str, timeout: Seconds = 10) -> AsyncIterator[int]:
        """``async with sm.lock("positions", timeout=5) as token:``; see
        :meth:`raftorch.StateManager.lock`."""
        guard = await self._run(self.sync._native.lock, name, float(timeout))
        try:
            yield guard.token()
        finally:
            await self._run(guard.release)

    async def close(self) -> None:
        """See :meth:`raftorch.StateManager.close`."""
        await self._run(self.sync.close)

    async def __aenter__(self) -> "AsyncStateManager":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
