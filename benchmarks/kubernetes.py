"""Benchmark: parse and evaluate N generated Kubernetes manifests with the kubernetes pack.

    python benchmarks/kubernetes.py                 # 5,000 manifests, in process
    python benchmarks/kubernetes.py --count 20000
    python benchmarks/kubernetes.py --cli           # also time `scanner scan DIR` on the same files

Manifests are a realistic mix spread over 50 namespaces: Deployments, StatefulSets, DaemonSets,
CronJobs and Pods (two containers and an init container each, some hardened, some not), with
Services, ServiceAccounts, NetworkPolicies (matchLabels and matchExpressions), Roles, bindings and
Namespace objects, so the relation rules have work to do. Prints files, MB, objects, findings, the
parse time (bytes -> documents), the evaluate time (documents -> findings: targets, relations, all
rules), as CPU time of this process (so a busy machine does not skew it), best of --repeat
runs, and MB/s. No assertion: figures to compare, not a test.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner import documents  # noqa: E402
from scanner.engines import policy  # noqa: E402
from scanner.model import Item  # noqa: E402
from scanner.rules.loader import load_pack  # noqa: E402

POD_SPEC = """\
{indent}serviceAccountName: {name}
{indent}{automount}
{indent}securityContext:
{indent}  runAsNonRoot: {nonroot}
{indent}  runAsUser: {uid}
{indent}  seccompProfile: {{type: {seccomp}}}
{indent}{host}
{indent}initContainers:
{indent}  - name: init
{indent}    image: busybox:1.36
{indent}    command: [sh, -c, "echo init"]
{indent}containers:
{indent}  - name: app
{indent}    image: registry.example.com/{ns}/{name}:{tag}
{indent}    ports:
{indent}      - containerPort: 8080
{indent}    env:
{indent}      - {{name: LOG_LEVEL, value: info}}
{indent}    resources:
{indent}      limits: {{cpu: 500m, memory: 256Mi}}
{indent}    securityContext:
{indent}      allowPrivilegeEscalation: {ape}
{indent}      readOnlyRootFilesystem: {rofs}
{indent}      privileged: {privileged}
{indent}      capabilities: {{drop: [ALL], add: [{cap}]}}
{indent}  - name: sidecar
{indent}    image: envoyproxy/envoy:v1.28.0
{indent}    securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}}
{indent}volumes:
{indent}  - name: data
{indent}    {volume}
"""


def _pod_spec(rng: random.Random, ns: str, name: str, indent: str) -> str:
    bad = rng.random() < 0.3
    return POD_SPEC.format(
        indent=indent, ns=ns, name=name,
        automount="automountServiceAccountToken: false" if rng.random() < 0.5 else "priorityClassName: normal",
        nonroot="false" if bad else "true", uid=0 if bad else 10001,
        seccomp="Unconfined" if bad else "RuntimeDefault",
        host="hostNetwork: true" if bad and rng.random() < 0.3 else "dnsPolicy: ClusterFirst",
        tag="latest" if bad else f"1.{rng.randrange(30)}.{rng.randrange(10)}",
        ape="true" if bad else "false", rofs="false" if bad else "true", privileged="true" if bad else "false",
        cap="SYS_ADMIN" if bad else "NET_BIND_SERVICE",
        volume="hostPath: {path: /var/run}" if bad and rng.random() < 0.3 else "emptyDir: {}",
    )


def _workload(rng: random.Random, ns: str, name: str) -> str:
    kind = rng.choice(["Deployment", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Pod"])
    labels = f"{{app: {name}, tier: {rng.choice(['web', 'api', 'worker'])}}}"
    head = f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}\n"
    if kind == "Pod":
        return head.replace("apps/v1", "v1") + "spec:\n" + _pod_spec(rng, ns, name, "  ")
    if kind == "CronJob":
        return (head.replace("apps/v1", "batch/v1") + "spec:\n  schedule: '*/5 * * * *'\n  jobTemplate:\n    spec:\n"
                f"      template:\n        metadata:\n          labels: {labels}\n        spec:\n"
                + _pod_spec(rng, ns, name, "          "))
    return (head + f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n"
            f"    metadata:\n      labels: {labels}\n    spec:\n" + _pod_spec(rng, ns, name, "      "))


def _extras(rng: random.Random, ns: str, name: str) -> str:
    docs = [
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector: {{app: {name}}}\n"
        "  ports:\n    - port: 80\n      targetPort: 8080\n",
        f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n",
    ]
    roll = rng.random()
    if roll < 0.3:
        docs.append(f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                    f"spec:\n  podSelector:\n    matchLabels: {{app: {name}}}\n  ingress:\n    - from:\n"
                    "        - podSelector: {matchExpressions: [{key: tier, operator: In, values: [web]}]}\n")
    elif roll < 0.4:
        docs.append(f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                    "rules:\n  - apiGroups: ['']\n    resources: [configmaps, secrets]\n    verbs: [get, list]\n"
                    "  - apiGroups: [apps]\n    resources: ['*']\n    verbs: [get]\n---\n"
                    f"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n"
                    f"  namespace: {ns}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}\n"
                    f"subjects: [{{kind: ServiceAccount, name: {name}, namespace: {ns}}}]\n")
    return "---\n".join(docs)


def generate(count: int, seed: int = 7) -> list[Item]:
    rng = random.Random(seed)
    items = []
    namespaces = [f"team-{i:02d}" for i in range(50)]
    for ns in namespaces:
        items.append(Item(f"{ns}/namespace.yaml", (
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n"
            f"    pod-security.kubernetes.io/enforce: {rng.choice(['restricted', 'baseline', 'privileged'])}\n"
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n"
            f"  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n").encode()))
    for i in range(count - len(items)):
        ns = rng.choice(namespaces)
        name = f"svc-{i:05d}"
        text = _workload(rng, ns, name) + "---\n" + _extras(rng, ns, name)
        items.append(Item(f"{ns}/{name}.yaml", text.encode()))
    return items


def measure(items: list[Item], repeat: int) -> dict:
    rules = [r for r in load_pack(ROOT / "policies" / "kubernetes.yaml")]
    best_parse = best_eval = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        docs = []
        for item in items:
            docs.extend(documents.parse_item(item)[0])
        docs = documents.finalize(docs)
        parsed = time.process_time()
        findings = policy.run(rules, docs, {})
        done = time.process_time()
        best_parse = min(best_parse, parsed - started)
        best_eval = min(best_eval, done - parsed)
    return {"objects": len(docs), "findings": len(findings), "parse": best_parse, "evaluate": best_eval, "rules": len(rules)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="manifest files to generate (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported (default 3)")
    parser.add_argument("--cli", action="store_true", help="also time `scanner scan DIR --only kubernetes`")
    args = parser.parse_args()
    items = generate(args.count)
    size = sum(len(i.data) for i in items)
    got = measure(items, args.repeat)
    total = got["parse"] + got["evaluate"]
    print(f"files      {len(items):>10,}")
    print(f"bytes      {size / 1e6:>10.1f} MB")
    print(f"objects    {got['objects']:>10,}")
    print(f"rules      {got['rules']:>10,}")
    print(f"findings   {got['findings']:>10,}")
    print(f"parse      {got['parse']:>10.2f} s   ({size / 1e6 / got['parse']:.1f} MB/s)")
    print(f"evaluate   {got['evaluate']:>10.2f} s")
    print(f"total      {total:>10.2f} s   ({len(items) / total:,.0f} manifests/s, one core, CPU time)")
    if args.cli:
        with tempfile.TemporaryDirectory() as tmp:
            for item in items:
                path = Path(tmp) / item.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(item.data)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "scanner", "scan", tmp, "--only", "kubernetes", "--exit-zero",
                            "--format", "json", "--output", str(Path(tmp) / "out.json")], cwd=ROOT, check=False)
            print(f"cli scan   {time.perf_counter() - started:>10.2f} s   (`scanner scan DIR --only kubernetes`)")


if __name__ == "__main__":
    main()
