"""Event sourcing and state watches over a project's keys.

Key layout (every key is under the project, so a token scoped to ``{project_id}/`` covers it)::

    {project_id}/state                            the state (save_state / get_state)
    {project_id}/streams/{stream}/head            the last sequence number appended (decimal)
    {project_id}/streams/{stream}/e/{seq:020d}    event number seq (1, 2, ...), codec-encoded

An append is one transaction (``POST /v1/txn``): *if* the head's version is still the one this
client saw, write the head and the event; otherwise read the head and try again. So sequence
numbers are dense and never reused, and two writers never overwrite each other's events. A
leader's appends are fenced with its term: a deposed leader's append is refused by the server.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional

from ._native import NotLeaderError, RaftorchError

if TYPE_CHECKING:  # pragma: no cover
    from . import StateManager

log = logging.getLogger("raftorch")

#: Most attempts of one append when other writers keep winning the race.
MAX_APPEND_ATTEMPTS = 64


class Event(NamedTuple):
    """One event of a stream."""

    #: Its sequence number in the stream: 1, 2, ... without gaps.
    seq: int
    #: The appended object, decoded by the codec.
    data: Any
    #: The log index of the append.
    revision: int


def _check_stream(stream: str) -> None:
    ok = 0 < len(stream) <= 100 and not stream.startswith(".") and all(
        c.isascii() and (c.isalnum() or c in "._-") for c in stream
    )
    if not ok:
        raise ValueError(f"stream {stream!r} must be 1..=100 of [A-Za-z0-9._-], not starting with '.'")


def head_key(project_id: str, stream: str) -> str:
    """The key holding a stream's last sequence number."""
    return f"{project_id}/streams/{stream}/head"


def event_prefix(project_id: str, stream: str) -> str:
    """The prefix of a stream's event keys."""
    return f"{project_id}/streams/{stream}/e/"


def append_event(sm: "StateManager", heads: Dict[str, int], stream: str, obj: Any, fenced: bool) -> int:
    """Appends ``obj`` to ``stream``; its sequence number. ``heads`` caches the last version
    of each head this client saw (a stale guess costs one more round trip, never an event)."""
    _check_stream(stream)
    text = sm.codec.dumps(obj)
    head = head_key(sm.project_id, stream)
    prefix = event_prefix(sm.project_id, stream)
    fence = None
    if fenced:
        term = sm.term()
        if term is None:
            raise NotLeaderError(f"{sm.instance_id} does not lead {sm.project_id}: a fenced append needs leadership")
        fence = f"election:{sm.project_id}.leader:{term}"
    for _ in range(MAX_APPEND_ATTEMPTS):
        version = heads.get(stream, 0)
        seq = version + 1
        txn: Dict[str, Any] = {
            "compare": [{"key": head, "target": "version", "op": "==", "value": version}],
            "success": [
                {"op": "put", "key": head, "value": str(seq)},
                {"op": "put", "key": f"{prefix}{seq:020d}", "value": text},
            ],
            "failure": [{"op": "get", "key": head}],
        }
        if fence is not None:
            txn["fence"] = fence
        answer = json.loads(sm._native.txn_raw(json.dumps(txn)))
        if answer["succeeded"]:
            heads[stream] = seq
            return seq
        got = answer["results"][0]
        heads[stream] = int(got.get("version") or 0)
    raise RaftorchError(f"append to stream {stream!r}: lost the race {MAX_APPEND_ATTEMPTS} times")


def events(sm: "StateManager", stream: str, after: int) -> List[Event]:
    """The events of ``stream`` with a sequence number above ``after``, in order."""
    _check_stream(stream)
    prefix = event_prefix(sm.project_id, stream)
    items, _index = sm._native.range_raw(prefix)
    out = []
    for key, value, revision in items:
        tail = key[len(prefix):]
        if not tail.isdigit():
            continue
        seq = int(tail)
        if seq > after:
            out.append(Event(seq, sm.codec.loads(value), revision))
    out.sort(key=lambda e: e.seq)
    return out


class StateWatch:
    """A running :meth:`StateManager.watch_state`: calls back on its own thread until
    :meth:`stop`."""

    def __init__(self, sm: "StateManager", callback: Callable[[Any], Any], initial: bool) -> None:
        self._sm = sm
        self._callback = callback
        self._stop = threading.Event()
        key = sm.state_key
        items, index = sm._native.range_raw(key)
        current = next((v for k, v, _ in items if k == key), None)
        self._watch = sm._native.watch_key(key, index)
        self._initial = (current,) if initial else None
        self._thread = threading.Thread(target=self._run, name="raftorch-watch", daemon=True)
        self._thread.start()

    def _deliver(self, text: Optional[str]) -> None:
        try:
            self._callback(None if text is None else self._sm.codec.loads(text))
        except Exception:  # noqa: BLE001 - a callback must not kill the watch
            log.exception("raftorch: watch_state callback failed")

    def _run(self) -> None:
        if self._initial is not None:
            self._deliver(self._initial[0])
        while not self._stop.is_set():
            try:
                item = self._watch.next(1.0)
            except RaftorchError:
                log.exception("raftorch: watch_state stopped")
                return
            if item is None:
                continue
            kind, _key, value, _index, _pos = item
            if kind == "put":
                self._deliver(value)
            elif kind == "delete":
                self._deliver(None)
            elif kind == "resync":
                # The history no longer reached back: the state as read afresh.
                state = json.loads(value or "null") or {}
                found = [i for i in state.get("items", []) if i.get("key") == self._sm.state_key]
                self._deliver(found[0].get("value") if found else None)

    @property
    def cursor(self) -> str:
        """Where the watch stands: ``INDEX`` or ``INDEX.POS`` of the last event seen."""
        return self._watch.cursor()

    def stop(self) -> None:
        """Stops the watch (waits for a callback that runs now to return)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
