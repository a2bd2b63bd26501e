"""The asyncio flavour: the same StateManager with awaitable I/O methods. The work runs in
the default executor (the native calls release the GIL); ``is_leader()`` stays synchronous
(it does no I/O)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Optional

from . import StateManager as _SyncStateManager


class AsyncStateManager:
    """``await sm.save_state(...)``, ``await sm.get_state()``, ... around :class:`raftorch.StateManager`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sync = _SyncStateManager(*args, **kwargs)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args))

    def is_leader(self) -> bool:
        return self.sync.is_leader()

    def term(self) -> Optional[int]:
        return self.sync.term()

    def watch_leader(self, on_become_leader: Optional[Callable[[int], Any]] = None,
                     on_lose_leadership: Optional[Callable[[int], Any]] = None) -> None:
        """Callbacks run on the callback thread; to run a coroutine, hand it to your loop
        with ``asyncio.run_coroutine_threadsafe``."""
        self.sync.watch_leader(on_become_leader, on_lose_leadership)

    def configure_failover(self, health_check_interval: float, failover_timeout: float,
                           recovery_callback: Optional[Callable[[Any], Any]] = None) -> None:
        self.sync.configure_failover(health_check_interval, failover_timeout, recovery_callback)

    async def save_state(self, state: Any) -> int:
        return await self._run(self.sync.save_state, state)

    async def get_state(self) -> Any:
        return await self._run(self.sync.get_state)

    async def trigger_failover(self, target_instance: str) -> int:
        return await self._run(self.sync.trigger_failover, target_instance)

    async def close(self) -> None:
        await self._run(self.sync.close)
