"""Every library scenario at true scale and at its CI scale: do the SLO verdicts agree?

Not CI (true scale takes minutes per run). Runs each ``scenarios/*.yaml`` x each policy it lists,
fast mode, the scenario's seed, at ``scale`` 1 and at its ``ci_scale``, on a process pool, and
writes ``docs/scale-verdicts.md``: one row per scenario x policy with both verdicts, the
expectation and the CPU seconds each run took. Rows not run (``--only``, ``--skip-true``) say so.

    python benchmarks/verdicts.py                       # everything (long)
    python benchmarks/verdicts.py --only lock-primary   # scenarios whose file name contains this
    python benchmarks/verdicts.py --skip-true           # CI scale only (fast)
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from breakerlab.judge import run_and_judge
from sim.loader import load_scenario, policy_id

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scale-verdicts.md"

#: what the table means, written under it (kept here so the doc is this script's output, whole)
READING = """
## Reading the table

- Judged rows (expected pass / fail) agree at both scales for every library scenario. The one
  disagreement is a *compared* policy: `slow-drip` \u00d7 `outlier` fails at \u00d70.125 and passes at true
  scale. Envoy-style success-rate ejection needs `success_rate_request_volume` calls per org per
  interval; at \u00d70.125 each org sees 8\u00d7 fewer calls, the rule rarely has its volume and the drip
  goes undetected longer. This is the caveat the report prints for every scaled run ("count
  windows see F\u00d7 fewer calls"); a policy whose verdict depends on absolute call counts should be
  judged at true scale (`--scale 1`).
- The seed story runs in CI at \u00d70.05, not lower: a site-planner session keeps its size (100-300
  parallel requests) when scaled, so its burst is a larger share of the scaled per-org buckets; at
  \u00d70.04 the bursts already draw 429s that hold every org and launch day misses 99.9 %.
- `quiet-night`, `site-planner-burst`, `bursty-near-capacity` and `retry-storm` run at their true
  volume in CI (`ci_scale: 1`): night traffic is that sparse, the burst scenarios' stories are
  bursts against fixed limits, which scaling would change, and a serving pool's replicas are whole
  GPUs (scaling them changes the queueing the retry storm is about).
- SLO thresholds on counts (wasted attempts, failed requests, user-visible failures) are scaled
  with the traffic (`sim.slo.scaled_slo`); rates, durations and ratios are not.
"""


def _verdict(job: tuple[str, str, float]) -> tuple[str, str, float, str, float, int]:
    """(file, policy, scale) → (file, policy, scale, verdict, cpu_s, requests)."""
    file, pid, scale = job
    sc = load_scenario(ROOT / "scenarios" / file).scaled(scale)
    spec = next(p for p in sc.policies if policy_id(p) == pid)
    t0 = time.process_time()
    judged = run_and_judge(sc, spec, mode="fast", label=pid)
    cpu = time.process_time() - t0
    verdict = "no SLO" if not sc.slo else ("pass" if judged.passed else "fail")
    return file, pid, scale, verdict, cpu, judged.traces[0].n_requests


def _jobs(only: str, skip_true: bool) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, float, float]]]:
    jobs, rows = [], []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        ci = sc.ci_scale or 1.0
        for p in sc.policies:
            pid = policy_id(p)
            rows.append((path.name, pid, ci, p.expect_pass))
            if only and only not in path.name:
                continue
            jobs.append((path.name, pid, ci))
            if not skip_true and ci != 1.0:
                jobs.append((path.name, pid, 1.0))
    return jobs, rows


def _cell(res: dict, key: tuple[str, str, float]) -> str:
    if key not in res:
        return "not run"
    verdict, cpu, n = res[key]
    return f"{verdict} ({n:,} req, {cpu:.0f} s CPU)"


def _doc(rows: list, res: dict, note: str) -> str:
    lines = [
        "# SLO verdicts: true scale vs CI scale",
        "",
        "Written by `python benchmarks/verdicts.py` (fast mode, each scenario's seed, one run per cell).",
        "CI (the pytest plugin, the behaviour pins) runs each scenario at its `ci_scale`; scaling",
        "multiplies traffic and every RPM/TPM limit together (`Scenario.scaled`), so the verdicts must agree.",
        "",
        note,
        "",
        "| scenario | policy | expected | CI scale | verdict at CI scale | verdict at true scale | agree |",
        "|---|---|---|---|---|---|---|",
    ]
    for file, pid, ci, expect in rows:
        a, b = res.get((file, pid, ci)), res.get((file, pid, 1.0))
        agree = "-" if a is None or b is None else ("yes" if a[0] == b[0] else "**NO**")
        exp = {True: "pass", False: "fail", None: "compared"}[expect]
        lines.append(f"| {file} | {pid} | {exp} | \u00d7{ci:g} | {_cell(res, (file, pid, ci))} | "
                     f"{_cell(res, (file, pid, 1.0)) if ci != 1.0 else 'same run'} | {agree if ci != 1.0 else 'yes'} |")
    return "\n".join(lines) + "\n" + READING


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="run only scenarios whose file name contains this")
    ap.add_argument("--skip-true", action="store_true", help="CI scale only")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--note", default="", help="a line for the doc (what was run, what is missing)")
    args = ap.parse_args()
    jobs, rows = _jobs(args.only, args.skip_true)
    res: dict = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for file, pid, scale, verdict, cpu, n in pool.map(_verdict, jobs):
            res[(file, pid, scale)] = (verdict, cpu, n)
            print(f"{file:40s} {pid:16s} x{scale:<6g} {verdict:7s} {n:>10,} req {cpu:7.1f} s CPU", flush=True)
    DOC.write_text(_doc(rows, res, args.note), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
