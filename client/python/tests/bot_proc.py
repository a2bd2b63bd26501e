"""A bot process for the tests: a StateManager for (project, instance) with failover_timeout
3 s, printing leadership events (with monotonic times) and answering JSON commands from stdin,
one per line: ["is_leader"], ["save", state], ["get"], ["trigger", target], ["close"]."""

import json
import sys
import threading
import time

from raftorch import StateManager

project, instance = sys.argv[1], sys.argv[2]
out = threading.Lock()


def emit(msg):
    with out:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


sm = StateManager(project_id=project, instance_id=instance, region="test")
sm.configure_failover(health_check_interval=0.5, failover_timeout=3,
                      recovery_callback=lambda s: emit({"event": "recovered", "state": s, "t": time.monotonic()}))
sm.watch_leader(
    on_become_leader=lambda term: emit({"event": "became", "term": term, "t": time.monotonic(),
                                        "thread": threading.current_thread().name}),
    on_lose_leadership=lambda term: emit({"event": "lost", "term": term, "t": time.monotonic()}),
)

for line in sys.stdin:
    cmd = json.loads(line)
    try:
        if cmd[0] == "is_leader":
            emit({"ok": sm.is_leader(), "term": sm.term()})
        elif cmd[0] == "save":
            emit({"ok": sm.save_state(cmd[1])})
        elif cmd[0] == "get":
            emit({"ok": sm.get_state()})
        elif cmd[0] == "trigger":
            emit({"ok": sm.trigger_failover(cmd[1])})
        elif cmd[0] == "close":
            sm.close()
            emit({"ok": True})
            break
    except Exception as e:  # noqa: BLE001 - reported to the test
        emit({"error": type(e).__name__, "message": str(e)})
