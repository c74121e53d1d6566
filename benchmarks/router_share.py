"""The router's share of a fast-mode run, measured in the run: how much of each request's CPU is
the production router (``multiorg``) and how much the simulator around it (``sim``).

    python benchmarks/router_share.py --json [--world throughput|seed-story] [--requests N] [--scale F]

``benchmarks/throughput.py``'s ``router_core_us`` times the router alone, in a loop against a
no-op vendor client that answers one canned 200: a cheaper path than the router takes in a run
(real rate-limit headers, pacing windows that move, four pods' shared state) and without the
simulator's code between two calls evicting the router's from the CPU's caches. So its
``sim_overhead_ratio`` (fast µs - ``router_core_us``) / ``router_core_us`` charges to the
simulator whatever the router costs in a run above that loop. This script measures the split in
the run itself instead: `py-spy <https://github.com/benfred/py-spy>`_ samples the simulation (a
child process) at ``--rate`` Hz, and each sample counts for the package of the Python function it
found running — C calls (dict lookups, allocations, a collection they trigger) count for the
function that made them; a greenlet switch for the simulator's hub, which makes it. Prints the
shares, the CPU µs per request of the run, and ``sim_overhead_ratio_in_situ`` = simulator share /
router share (what the simulator costs around the router, in routers, in the run). Figures only;
nothing is asserted. Needs ``py-spy`` (``pip install py-spy``; it reads the child's memory, so a
container may need the ``SYS_PTRACE`` capability).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the child: one fast-mode run of the chosen world; prints its requests and CPU seconds
CHILD = """
import json, sys, time
sys.path[:0] = [{root!r}, {bench!r}]
import sim
world = {world!r}
if world == "throughput":
    import throughput as tp
    sc, policy = tp.world(tp.DAY * {requests} / tp.VOLUME), tp.POLICY
else:
    from sim.loader import load_scenario, policy_id
    sc = load_scenario({scenario!r}).scaled({scale})
    policy = next(p for p in sc.policies if policy_id(p) == "exponential")
t0 = time.process_time()
trace = sim.run(sc, policy, mode="fast")
print(json.dumps({{"requests": trace.n_requests, "cpu_s": time.process_time() - t0}}))
"""

#: a sample is in the run when one of these frames is on its stack (not imports, not loading)
IN_RUN = re.compile(r"\((?:[^()]*/)?sim/(?:engine|bridge)\.py:\d+\)")
LEAF_FILE = re.compile(r"\(([^()]*):\d+\)\s*$")


def _package(leaf: str) -> str:
    m = LEAF_FILE.search(leaf)
    path = m.group(1) if m else ""
    for pkg in ("multiorg", "sim"):
        if f"/{pkg}/" in path or path.startswith(f"{pkg}/"):
            return pkg
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", choices=["throughput", "seed-story"], default="throughput",
                    help="throughput.py's fast-mode world, or the seed story (exponential)")
    ap.add_argument("--requests", type=int, default=400_000, help="throughput world: requests")
    ap.add_argument("--scale", type=float, default=0.1, help="seed story: x its true volume")
    ap.add_argument("--rate", type=int, default=250, help="samples a second")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        print("router_share.py: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        raise SystemExit(2)
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), world=args.world, requests=args.requests,
                        scenario=str(ROOT / "scenarios" / "lock-primary-before-launch.yaml"), scale=args.scale)
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "samples.txt"
        done = subprocess.run([spy, "record", "--rate", str(args.rate), "--format", "raw", "--output", str(raw),
                               "--", sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not raw.exists():
            print(f"router_share.py: py-spy failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            raise SystemExit(1)
        # (py-spy writes its own lines on stdout too)
        run = json.loads(next(ln for ln in done.stdout.splitlines() if ln.startswith("{")))
        shares: Counter[str] = Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if IN_RUN.search(stack):
                shares[_package(stack.split(";")[-1])] += int(count)
    total = sum(shares.values())
    us = run["cpu_s"] / run["requests"] * 1e6
    out = {
        "world": args.world, "requests": run["requests"], "cpu_us_per_request": round(us, 2), "samples": total,
        **{f"{k}_share": round(shares[k] / total, 3) for k in ("multiorg", "sim", "other")},
        "router_us_in_situ": round(us * shares["multiorg"] / total, 2),
        "sim_us_in_situ": round(us * shares["sim"] / total, 2),
        "sim_overhead_ratio_in_situ": round(shares["sim"] / shares["multiorg"], 2) if shares["multiorg"] else None,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:28s} {v}")


if __name__ == "__main__":
    main()
