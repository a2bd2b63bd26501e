"""Real raftorch clusters for the tests: node processes of the `raftorch` binary on loopback
ports, killed at the end; bot processes running `bot_proc.py`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def raftorch_binary() -> str:
    candidates = []
    if os.environ.get("RAFTORCH_BIN"):
        candidates.append(Path(os.environ["RAFTORCH_BIN"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "raftorch")
    candidates.append(REPO / "target" / "debug" / "raftorch")
    for c in candidates:
        if c.is_file():
            return str(c)
    pytest.fail(f"no raftorch binary (build it: cargo build -p raftorch-node); looked at {candidates}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SECURE_TOKEN = "py-secure-admin-0123456789abcdef"


class Cluster:
    def __init__(self, n: int = 3, secure: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="raftorch-py-")
        # A private copy: other builds may overwrite the shared target directory meanwhile.
        self.binary = os.path.join(self.dir, "raftorch")
        shutil.copy2(raftorch_binary(), self.binary)
        self.ids = list(range(1, n + 1))
        self.secure = secure
        self.token = SECURE_TOKEN if secure else None
        self.certs = os.path.join(self.dir, "certs")
        self.cacert = os.path.join(self.certs, "ca.pem")
        if secure:
            # TLS on both ports and tokens, as `raftorch dev --secure` sets them up.
            nodes = ",".join(str(i) for i in self.ids)
            subprocess.run([self.binary, "certs", "--dir", self.certs, "--nodes", nodes],
                           check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(self.dir, "auth.toml"), "w") as f:
                f.write(f'[[token]]\nname = "ops"\nsecret = "{SECURE_TOKEN}"\nrole = "admin"\n')
        self.peer = {i: f"127.0.0.1:{free_port()}" for i in self.ids}
        self.api = {i: f"127.0.0.1:{free_port()}" for i in self.ids}
        self.procs: Dict[int, subprocess.Popen] = {}
        for i in self.ids:
            self.spawn(i)

    @property
    def scheme(self) -> str:
        return "https" if self.secure else "http"

    @property
    def endpoints(self) -> List[str]:
        return [f"{self.scheme}://{self.api[i]}" for i in self.ids]

    def spawn(self, i: int) -> None:
        args = [self.binary, "node", "--id", str(i), "--data-dir", os.path.join(self.dir, f"data-{i}"),
                "--peer-listen", self.peer[i], "--api-listen", self.api[i]]
        for j in self.ids:
            if j != i:
                args += ["--peer", f"{j}={self.peer[j]}@{self.api[j]}"]
        if self.secure:
            args += ["--auth-file", os.path.join(self.dir, "auth.toml"),
                     "--tls-ca", self.cacert,
                     "--tls-cert", os.path.join(self.certs, f"node-{i}.pem"),
                     "--tls-key", os.path.join(self.certs, f"node-{i}-key.pem")]
        log = open(os.path.join(self.dir, f"node-{i}.log"), "ab")
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=log)

    def status(self, i: int) -> Optional[Dict[str, Any]]:
        try:
            request = urllib.request.Request(f"{self.scheme}://{self.api[i]}/v1/status")
            context = None
            if self.secure:
                request.add_header("authorization", f"Bearer {SECURE_TOKEN}")
                context = ssl.create_default_context(cafile=self.cacert)
            with urllib.request.urlopen(request, timeout=1, context=context) as r:
                return json.loads(r.read())
        except Exception:
            return None

    def wait_leader(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = {(self.status(i) or {}).get("leader_id") for i in self.ids}
            if len(leaders) == 1 and None not in leaders:
                return leaders.pop()
            time.sleep(0.05)
        raise AssertionError("no raftorch leader")

    def signal_all(self, sig: int) -> None:
        for p in self.procs.values():
            p.send_signal(sig)

    def stop(self) -> None:
        for p in self.procs.values():
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    c = Cluster(3)
    c.wait_leader()
    yield c
    c.stop()


@pytest.fixture
def secure_cluster():
    c = Cluster(3, secure=True)
    c.wait_leader()
    yield c
    c.stop()


class Bot:
    """A bot process (bot_proc.py): one StateManager; events and answers as JSON lines."""

    def __init__(self, cluster: Cluster, instance: str, project: str = "bot") -> None:
        self.instance = instance
        env = dict(os.environ, RAFTORCH_ENDPOINTS=",".join(cluster.endpoints), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "bot_proc.py"), project, instance],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1,
        )
        self.events: List[Dict[str, Any]] = []
        self._answers: List[Dict[str, Any]] = []
        import threading
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self._cv:
                (self.events if "event" in msg else self._answers).append(msg)
                self._cv.notify_all()

    def ask(self, *cmd: Any, timeout: float = 15) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        with self._cv:
            n = len(self._answers)
        self.proc.stdin.write(json.dumps(list(cmd)) + "\n")
        self.proc.stdin.flush()
        with self._cv:
            assert self._cv.wait_for(lambda: len(self._answers) > n, timeout), f"{self.instance}: no answer to {cmd}"
            return self._answers[n]

    def wait_event(self, kind: str, timeout: float, after: int = 0) -> Optional[Dict[str, Any]]:
        with self._cv:
            self._cv.wait_for(lambda: any(e["event"] == kind for e in self.events[after:]), timeout)
            return next((e for e in self.events[after:] if e["event"] == kind), None)

    def kill9(self) -> float:
        self.proc.kill()
        t = time.monotonic()
        self.proc.wait()
        return t

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask("close", timeout=10)
            except Exception:
                pass
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def bots(cluster):
    made: List[Bot] = []

    def make(instance: str) -> Bot:
        b = Bot(cluster, instance)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()
