"""The trading bot's HA loop on raftorch.

    RAFTORCH_ENDPOINTS=http://127.0.0.1:8001,http://127.0.0.1:8002 \
        python client/python/examples/bot.py instance-1

Run it two or three times with different instance ids (a cluster from `raftorch dev`): one
leads and saves its state every second, the others follow it; kill the leader (Ctrl-C, or
kill -9) and another takes over within failover_timeout, resuming from the saved state.
"""

import sys
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal

from raftorch import FencedOutError, NotLeaderError, StateManager

instance = sys.argv[1] if len(sys.argv) > 1 else "instance-1"
state_manager = StateManager(project_id="crypto-bot-prod", instance_id=instance, region="asia-northeast1")
positions = {}
promoted = threading.Event()


def recover_state(state):
    """Runs before on_become_leader, with the state as of this instance's promotion."""
    positions.clear()
    positions.update((state or {}).get("active_positions", {}))
    print(f"[{instance}] recovered {len(positions)} positions", flush=True)


def handle_promotion(term):
    print(f"[{instance}] leading (term {term})", flush=True)
    promoted.set()


def handle_demotion(term):
    print(f"[{instance}] stopped leading (term {term})", flush=True)
    promoted.clear()


state_manager.configure_failover(health_check_interval=1, failover_timeout=3, recovery_callback=recover_state)
state_manager.watch_leader(on_become_leader=handle_promotion, on_lose_leadership=handle_demotion)

try:
    while True:
        if state_manager.is_leader():
            # execute_leader_tasks(): trade, then save what was done, fenced with the term.
            positions["BTC"] = positions.get("BTC", Decimal("0")) + Decimal("0.001")
            try:
                state_manager.save_state({"last_processed_timestamp": datetime.now(timezone.utc),
                                          "active_positions": positions, "model_version": "v1.2.3"})
            except (NotLeaderError, FencedOutError) as e:
                print(f"[{instance}] save refused: {e}", flush=True)
        else:
            # sync_from_leader()
            current_state = state_manager.get_state()
            if current_state:
                print(f"[{instance}] following; leader saved at {current_state['last_processed_timestamp']}", flush=True)
        time.sleep(1)
except KeyboardInterrupt:
    pass
finally:
    state_manager.close()  # resigns: a follower takes over at once
