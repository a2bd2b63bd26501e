"""raftorch: a high-availability state manager for Python applications.

``StateManager`` keeps one leader among the instances of a project, saves and reads the
project's state (fenced with the leader's term), and calls back on leadership changes::

    from raftorch import StateManager
    sm = StateManager(project_id="crypto-bot-prod", instance_id="instance-1",
                      region="asia-northeast1", endpoints=["http://127.0.0.1:8001"])
    sm.configure_failover(health_check_interval=1, failover_timeout=3)
    sm.watch_leader(on_become_leader=promote, on_lose_leadership=demote)
    if sm.is_leader():
        sm.save_state({"last_processed_timestamp": datetime.now(timezone.utc)})

See README.md for how the bot's words map onto raftorch (elections, leases, fences).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from . import _native
from ._native import (
    new_traceparent,
    ClosedError,
    FencedOutError,
    LockTimeoutError,
    NotLeaderError,
    RaftorchError,
    UnavailableError,
)
from .codec import Codec, JsonCodec
from . import streams as _streams
from .streams import Event, StateWatch

__all__ = [
    "StateManager",
    "JsonCodec",
    "Codec",
    "Event",
    "StateWatch",
    "RaftorchError",
    "NotLeaderError",
    "FencedOutError",
    "UnavailableError",
    "LockTimeoutError",
    "ClosedError",
    "DEFAULT_FAILOVER_TIMEOUT",
    "DEFAULT_HEALTH_CHECK_INTERVAL",
    "new_traceparent",
]

log = logging.getLogger("raftorch")

#: Seconds: the session lease's TTL when ``configure_failover`` is not called.
DEFAULT_FAILOVER_TIMEOUT = 10.0
#: Seconds between keepalives by default (a third of the TTL at most).
DEFAULT_HEALTH_CHECK_INTERVAL = 3.0

Seconds = Union[int, float]
TermCallback = Callable[[int], Any]


def _endpoints(endpoints: Optional[Sequence[str]]) -> List[str]:
    if endpoints:
        return [e for e in endpoints if e.strip()]
    raw = os.environ.get("RAFTORCH_ENDPOINTS", "")
    found = [e.strip() for e in raw.split(",") if e.strip()]
    if not found:
        raise ValueError("no endpoints: pass endpoints=[...] or set RAFTORCH_ENDPOINTS")
    return found


class StateManager:
    """One instance of a project: campaigns for the project's leadership, saves and reads
    its state.

    Campaigning starts at the first call to :meth:`watch_leader`, :meth:`is_leader`,
    :meth:`save_state`, :meth:`trigger_failover` or :meth:`start` — so that
    :meth:`configure_failover` right after construction applies to the first session.

    ``token`` (or ``RAFTORCH_TOKEN``) is sent as ``Authorization: Bearer`` with every request,
    for a cluster started with ``--auth-file``. ``cacert`` (or ``RAFTORCH_CACERT``) is the PEM
    file of a TLS cluster's CA (``ca.pem`` from ``raftorch certs`` or ``raftorch dev
    --secure``): ``https://`` endpoints are trusted only when that CA signed their
    certificates, and endpoints without a scheme are ``https://``; ``https://`` endpoints
    without it raise ``ValueError``.

    ``traceparent`` is a W3C trace context sent with every request this instance makes, so a
    cluster started with ``--otlp-endpoint`` records its spans in that trace (use
    :func:`new_traceparent` for a new one; a malformed one raises ``ValueError``). Without it
    each request the nodes trace starts a trace of its own.
    """

    def __init__(
        self,
        project_id: str,
        instance_id: str,
        region: str = "",
        endpoints: Optional[Sequence[str]] = None,
        *,
        codec: Optional[Codec] = None,
        token: Optional[str] = None,
        cacert: Optional[str] = None,
        traceparent: Optional[str] = None,
        health_check_interval: Seconds = DEFAULT_HEALTH_CHECK_INTERVAL,
        failover_timeout: Seconds = DEFAULT_FAILOVER_TIMEOUT,
    ) -> None:
        token = token or os.environ.get("RAFTORCH_TOKEN")
        cacert = cacert or os.environ.get("RAFTORCH_CACERT")
        if cacert and not os.path.isfile(cacert):
            raise ValueError(f"cacert {cacert!r} is not a file")
        _check_failover(health_check_interval, failover_timeout)
        self.project_id = project_id
        self.instance_id = instance_id
        self.region = region
        self.codec: Codec = codec if codec is not None else JsonCodec()
        self._native = _native.NativeStateManager(
            project_id,
            instance_id,
            region,
            _endpoints(endpoints),
            float(health_check_interval),
            float(failover_timeout),
            None,
            token or None,
            os.fspath(cacert) if cacert else None,
            traceparent,
        )
        self.traceparent = traceparent
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._on_become: Optional[TermCallback] = None
        self._on_lose: Optional[TermCallback] = None
        self._recovery: Optional[Callable[[Any], Any]] = None
        self._callback_thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._heads: Dict[str, int] = {}
        self._watches: List[StateWatch] = []

    @property
    def state_key(self) -> str:
        """The key the state is saved under: ``{project_id}/state``."""
        return f"{self.project_id}/state"

    # -- campaigning -------------------------------------------------------------------
    def start(self) -> None:
        """Starts campaigning (once). Called by the methods that need it."""
        with self._lock:
            if self._closed:
                raise ClosedError("the state manager is closed")
            if not self._started:
                self._started = True
                self._native.start()

    def is_leader(self) -> bool:
        """Whether this instance leads now. No I/O: it reads the leadership the background
        session keeps, and turns false at the session's local deadline (the send time of the
        last acknowledged keepalive + failover_timeout - margin) even when the cluster is
        unreachable."""
        if not self._started and not self._closed:
            self.start()
        return self._native.is_leader()

    def term(self) -> Optional[int]:
        """The term this instance leads, while it does (the fence of its saves)."""
        return self._native.term()

    def watch_leader(
        self,
        on_become_leader: Optional[TermCallback] = None,
        on_lose_leadership: Optional[TermCallback] = None,
    ) -> None:
        """Calls ``on_become_leader(term)`` when this instance becomes leader and
        ``on_lose_leadership(term)`` when it stops. Callbacks run one at a time, in order, on
        a thread of their own (never on the I/O threads); a loss is reported only after the
        matching promotion. After a loss the instance campaigns again, forever, until
        :meth:`close`. Exceptions in callbacks are logged and do not stop anything."""
        with self._lock:
            self._on_become = on_become_leader
            self._on_lose = on_lose_leadership
            need_thread = self._callback_thread is None
            if need_thread:
                # Subscribed before campaigning starts, so the first promotion is never missed.
                events = self._native.subscribe()
                t = threading.Thread(target=self._deliver, args=(events,), name="raftorch-callbacks", daemon=True)
                self._callback_thread = t
        if need_thread:
            t.start()
        self.start()

    def _deliver(self, events: Any) -> None:
        leading: Optional[int] = None
        while not self._stop.is_set():
            event = events.next(0.25)
            if event is None:
                continue
            kind, term, since_index, state = event
            if kind == "closed":
                break
            if kind == "became":
                leading = term
                if self._recovery is not None:
                    try:
                        value = self._decode(state) if since_index else self.get_state()
                        self._recovery(value)
                    except Exception:  # noqa: BLE001 - a callback must not kill the thread
                        log.exception("raftorch: recovery_callback failed")
                self._call(self._on_become, term)
            elif kind == "lost" and leading == term:
                leading = None
                self._call(self._on_lose, term)

    @staticmethod
    def _call(cb: Optional[TermCallback], term: int) -> None:
        if cb is None:
            return
        try:
            cb(term)
        except Exception:  # noqa: BLE001
            log.exception("raftorch: leadership callback failed")

    # -- failover ----------------------------------------------------------------------
    def configure_failover(
        self,
        health_check_interval: Seconds,
        failover_timeout: Seconds,
        recovery_callback: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        """Sets the failover timing (seconds, floats allowed): ``failover_timeout`` is the
        session lease's TTL (a crashed leader is replaced within it), ``health_check_interval``
        the keepalive period, at most a third of it. ``recovery_callback(state)`` runs on the
        callback thread before ``on_become_leader``, with the state read at or after the index
        where this instance became leader. A follower applies new timing at once; a leader
        from its next session on."""
        _check_failover(health_check_interval, failover_timeout)
        self._native.configure_failover(float(health_check_interval), float(failover_timeout))
        self._recovery = recovery_callback

    def trigger_failover(self, target_instance: str) -> int:
        """Hands leadership to ``target_instance`` (a campaigning instance); its new term."""
        self.start()
        return self._native.trigger_failover(target_instance)

    # -- state -------------------------------------------------------------------------
    def _decode(self, text: Optional[str]) -> Any:
        return None if text is None else self.codec.loads(text)

    def save_state(self, state: Any) -> int:
        """Saves ``state`` (encoded by the codec) as leader; the new revision. Refused with
        :class:`NotLeaderError` when this instance does not lead, and with
        :class:`FencedOutError` when the server finds its term is no longer current: a
        deposed leader's save is never applied."""
        if not self._started:
            self.start()
        return self._native.save_state_raw(self.codec.dumps(state))

    def get_state(self) -> Any:
        """The project's state (linearizable read), ``None`` before the first save."""
        return self._decode(self._native.get_state_raw())

    def watch_state(self, callback: Callable[[Any], Any], *, initial: bool = True) -> StateWatch:
        """Calls ``callback(state)`` with every saved state from now on (``None`` once it is
        deleted), in order, on a thread of its own (``raftorch-watch``); first with the state
        now when ``initial``. Built on the resumable watch: a node failover or a reconnect
        neither loses nor repeats a save. Stop it with ``.stop()`` (or :meth:`close`)."""
        w = StateWatch(self, callback, initial)
        with self._lock:
            self._watches.append(w)
        return w

    # -- event sourcing ----------------------------------------------------------------
    def append_event(self, stream: str, obj: Any, *, fenced: bool = True) -> int:
        """Appends ``obj`` (encoded by the codec) to the event stream ``stream``; its
        sequence number (1, 2, ..., dense). ``fenced`` (the default): only as leader, fenced
        with the term like :meth:`save_state` (:class:`NotLeaderError` /
        :class:`FencedOutError`); ``fenced=False`` appends from any instance. The key
        layout is in :mod:`raftorch.streams`."""
        if fenced and not self._started:
            self.start()
        return _streams.append_event(self, self._heads, stream, obj, fenced)

    def events(self, stream: str, after: int = 0) -> List[Event]:
        """The events of ``stream`` after sequence number ``after``, in order, as
        :class:`Event` ``(seq, data, revision)`` (linearizable read)."""
        return _streams.events(self, stream, after)

    # -- locks -------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, timeout: Seconds = 10) -> Iterator[int]:
        """``with sm.lock("positions", timeout=5) as token:`` holds lock
        ``{project_id}.{name}`` and yields its fencing token (strictly greater than any token
        before it). Raises :class:`LockTimeoutError` if not acquired within ``timeout``."""
        guard = self._native.lock(name, float(timeout))
        try:
            yield guard.token()
        finally:
            guard.release()

    # -- life cycle ----------------------------------------------------------------------
    def close(self) -> None:
        """Resigns (a successor takes over at once rather than after a TTL), revokes the
        session and stops the callback thread after it delivered the last loss."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            watches, self._watches = self._watches, []
        for w in watches:
            w.stop()
        self._native.close()
        t = self._callback_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        self._stop.set()

    def __enter__(self) -> "StateManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_failover(interval: Seconds, timeout: Seconds) -> None:
    if not (float(interval) > 0 and float(timeout) > 0):
        raise ValueError("health_check_interval and failover_timeout must be positive seconds")
    if float(interval) > float(timeout) / 3:
        raise ValueError(
            f"health_check_interval ({interval}) must be at most a third of failover_timeout "
            f"({timeout}): a keepalive lost now and then must not cost the lease"
        )
