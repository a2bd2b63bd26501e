"""Runs schemathesis against one live raftorch node: starts ``raftorch node`` on free loopback
ports, waits until it leads, fuzzes every operation of ``/v1/openapi.json`` (no 5xx, every
error in the JSON error shape, answers that match the document), then checks the node is still
up and never panicked. ``cargo xtask python`` runs it with a small budget;
``cargo xtask schemathesis --long`` runs it for longer.

usage: run.py RAFTORCH_BINARY [--max-examples N] [--max-time SECONDS] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Never fuzzed: adding a member to this single-node cluster would cost it its quorum (every
# later write a 503), which is the point of membership, not a bug. Removal and leadership
# transfer stay in.
EXCLUDED = ["--exclude-operation-id", "addMember"]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,json_error_shape"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the node exited early ({proc.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as r:
                if json.loads(r.read()).get("ready"):
                    return
        except Exception:
            pass
        time.sleep(0.1)
    sys.exit("the node did not become ready")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--max-examples", type=int, default=15)
    ap.add_argument("--max-time", type=int, default=75)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="raftorch-schemathesis-")
    api = f"127.0.0.1:{free_port()}"
    log_path = os.path.join(work, "node.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [args.binary, "node", "--id", "1", "--data-dir", os.path.join(work, "data"),
         "--peer-listen", f"127.0.0.1:{free_port()}", "--api-listen", api],
        stdout=log, stderr=log)
    url = f"http://{api}"
    ok = False
    try:
        wait_ready(url, proc)
        seed = args.seed if args.seed is not None else int(time.time())
        print(f"schemathesis: seed {seed} (replay: --seed {seed})", flush=True)
        env = dict(os.environ, SCHEMATHESIS_HOOKS="hooks",
                   PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/v1/openapi.json",
               "--checks", CHECKS, "--max-examples", str(args.max_examples),
               "--max-time", str(args.max_time), "--seed", str(seed), "--workers", "1",
               "--request-timeout", "10", "--suppress-health-check", "all",
               "--report", "junit", "--report-dir", os.path.join(work, "report")] + EXCLUDED
        # In the scratch directory: schemathesis keeps a cache of what it found there.
        result = subprocess.run(cmd, env=env, cwd=work)
        alive = proc.poll() is None
        text = Path(log_path).read_text(errors="replace")
        panicked = "panicked" in text
        if not alive or panicked:
            print(text[-4000:])
            print(f"schemathesis: the node {'panicked' if panicked else 'died'}", file=sys.stderr)
            return 1
        if result.returncode != 0:
            print(f"schemathesis failed (seed {seed}); node log: {log_path}", file=sys.stderr)
            return result.returncode
        ok = True
        return 0
    finally:
        proc.kill()
        proc.wait()
        log.close()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"schemathesis: kept {work} (node log, junit report)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
