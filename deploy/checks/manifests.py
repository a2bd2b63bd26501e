"""Assertions on deploy/kubernetes beyond its schema (run by `cargo xtask deploy-check`).

The schema says the manifests are well-formed; this says they run raftorch as intended: the
PodDisruptionBudget keeps a quorum of the StatefulSet's replicas, readiness is /readyz, the
member list has one entry per replica at its pod's DNS name under the headless Service (which
publishes not-ready pods, so a first quorum can meet), and each pod advertises that name.
Exits 1 with every failed assertion listed.
"""

import re
import sys
from pathlib import Path

import yaml


def load(directory):
    docs = []
    for path in sorted(Path(directory).glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check(objects):
    problems = []

    def need(ok, what):
        if not ok:
            problems.append(what)

    sets = [o for (kind, _), o in objects.items() if kind == "StatefulSet"]
    need(len(sets) == 1, f"exactly one StatefulSet, found {len(sets)}")
    if not sets:
        return problems
    sts = sets[0]
    name = sts["metadata"]["name"]
    spec = sts["spec"]
    replicas = spec.get("replicas", 1)
    quorum = replicas // 2 + 1
    need(replicas % 2 == 1 and replicas >= 3, f"an odd number of replicas >= 3, got {replicas}")
    need(spec.get("podManagementPolicy") == "Parallel",
         "podManagementPolicy Parallel (an OrderedReady first pod waits for a quorum forever)")
    need(bool(spec.get("volumeClaimTemplates")), "a volumeClaimTemplate for each member's data")

    headless = objects.get(("Service", spec.get("serviceName")))
    need(headless is not None, f"the serviceName {spec.get('serviceName')!r} is a Service here")
    if headless:
        need(headless["spec"].get("clusterIP") == "None", "the peers' Service is headless")
        need(headless["spec"].get("publishNotReadyAddresses") is True,
             "the headless Service publishes not-ready pods (peers must meet before ready)")

    pod = spec["template"]["spec"]
    containers = pod["containers"]
    need(len(containers) == 1, "one container")
    c = containers[0]
    probe = c.get("readinessProbe", {}).get("httpGet", {})
    need(probe.get("path") == "/readyz", f"readiness on /readyz, got {probe.get('path')!r}")
    need(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
         "liveness on /healthz")
    security = pod.get("securityContext", {})
    need(security.get("runAsNonRoot") is True, "runAsNonRoot")
    need(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False,
         "allowPrivilegeEscalation false")
    need(pod.get("terminationGracePeriodSeconds", 30) >= 10,
         "a termination grace period that covers the leadership hand-over and the drain")

    env = env_of(c)
    service = spec.get("serviceName")
    members = [m for m in (env.get("RAFTORCH_MEMBERS") or "").split(",") if m]
    need(len(members) == replicas,
         f"one member per replica: {replicas} replicas, {len(members)} members")
    for i, member in enumerate(members):
        host = rf"{name}-{i}\.{service}\.\$\(POD_NAMESPACE\)\.svc"
        pattern = rf"{i + 1}={host}:\d+@{host}:\d+"
        need(re.fullmatch(pattern, member) is not None,
             f"member {i + 1} is node {i + 1} at pod {name}-{i}'s DNS name: {member!r}")
    for key in ("RAFTORCH_ADVERTISE_PEER", "RAFTORCH_ADVERTISE_API"):
        value = env.get(key) or ""
        need(value.startswith(f"$(POD_NAME).{service}."),
             f"{key} is the pod's DNS name under {service}: {value!r}")
    for key in ("RAFTORCH_PEER_LISTEN", "RAFTORCH_API_LISTEN"):
        need((env.get(key) or "").startswith("0.0.0.0:"), f"{key} on every interface")

    budgets = [o for (kind, _), o in objects.items() if kind == "PodDisruptionBudget"]
    need(len(budgets) == 1, f"one PodDisruptionBudget, found {len(budgets)}")
    for pdb in budgets:
        s = pdb["spec"]
        labels = spec["template"]["metadata"]["labels"]
        selected = s.get("selector", {}).get("matchLabels", {})
        need(all(labels.get(k) == v for k, v in selected.items()) and selected,
             "the PodDisruptionBudget selects the StatefulSet's pods")
        if "maxUnavailable" in s:
            need(isinstance(s["maxUnavailable"], int)
                 and 1 <= s["maxUnavailable"] <= replicas - quorum,
                 f"maxUnavailable keeps a quorum of {quorum}: {s['maxUnavailable']!r}")
        else:
            need(isinstance(s.get("minAvailable"), int) and s["minAvailable"] >= quorum,
                 f"minAvailable is at least a quorum of {quorum}: {s.get('minAvailable')!r}")
    return problems


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "deploy/kubernetes"
    problems = check(load(directory))
    for p in problems:
        print(f"deploy check: {directory}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"deploy check: {directory}: the StatefulSet, Services and PodDisruptionBudget agree")


if __name__ == "__main__":
    main()
