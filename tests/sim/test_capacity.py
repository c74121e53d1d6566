"""Dedicated capacity (sim.capacity): queueing theory, Azure's provisioned throughput, and the
engine's wiring (fast = full, byte-identical reruns, every attempt lands on the one pool)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_helpers import scenario

import sim
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim.capacity import Pool, PoolCapacity, Provisioned, ProvisionedCapacity, Refusal
from sim.loader import ScenarioError, load_scenario
from sim.rng import Seeds
from sim.vendor_model import VendorWorld


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Mean queueing delay of an M/M/c queue (Erlang C)."""
    a = lam / mu
    top = a**c / math.factorial(c) / (1.0 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def mmc_pool(replicas: int, concurrency: int, seed: int) -> PoolCapacity:
    spec = Pool(
        kind="pool",
        replicas=replicas,
        concurrency=concurrency,
        prefill=1.0,
        tpot=0.0,
        queue=10**9,
        queue_timeout=None,
        service="exponential",
    )
    return PoolCapacity(spec, Seeds(seed).stream("pool"), 1.0)


@pytest.mark.parametrize(("rho", "n"), [(0.8, 1_500_000), (0.95, 4_000_000)])
def test_mmc_pool_reproduces_erlang_c_mean_wait(rho: float, n: int) -> None:
    # Poisson arrivals, exponential service of mean 1 s, c = 2 replicas x 4 sequences, no retries.
    # The wait of a request = its answer time - its service (the pool counts the service it gave).
    c = 8
    lam = rho * c
    arrivals = np.cumsum(np.random.default_rng(11).exponential(1.0 / lam, n)).tolist()
    pool = mmc_pool(2, 4, 11)
    admit = pool.admit
    total = 0.0
    for now in arrivals:
        total += admit(0, now)  # type: ignore[operator]  # never refused: no bound, no timeout
    wait = (total - sum(pool.offered)) / n
    expected = erlang_c_wait(lam, 1.0, c)
    assert wait == pytest.approx(expected, rel=0.05)
    assert sum(pool.refused) == 0 and sum(pool.attempts) == n


def erlang_b(a: float, c: int) -> float:
    """Blocking probability of an M/G/c/c loss system (Erlang B, by its recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


@pytest.mark.parametrize("service", ["exponential", "fixed"])
def test_pool_without_a_queue_blocks_as_erlang_b(service: str) -> None:
    # no queue: a request finding every slot busy is refused at once. Erlang B holds for any
    # service distribution (insensitivity), so fixed and exponential service block alike
    n, a = 300_000, 6.0
    arrivals = np.cumsum(np.random.default_rng(4).exponential(1.0 / a, n)).tolist()
    spec = Pool(kind="pool", replicas=2, concurrency=4, prefill=1.0, tpot=0.0, queue=0, service=service)
    pool = PoolCapacity(spec, Seeds(4).stream("pool"), 1.0)
    refused = sum(1 for now in arrivals if type(pool.admit(0, now)) is Refusal)
    assert refused / n == pytest.approx(erlang_b(a, 8), rel=0.03)


def test_pool_queue_bound_and_queue_timeout_answer_503() -> None:
    spec = Pool(kind="pool", replicas=1, concurrency=2, prefill=10.0, tpot=0.0, queue=3, queue_timeout=15.0)
    pool = PoolCapacity(spec, Seeds(1).stream("p"), 60.0)
    assert pool.admit(0, 0.0) == 10.0 and pool.admit(0, 0.0) == 10.0  # both slots
    assert pool.admit(0, 1.0) == 19.0  # waits 9 s for the first slot, then 10 s of service
    assert pool.admit(0, 1.0) == 19.0  # the second slot
    # the next one would wait 19 s > queue_timeout: a 503 after 15 s, holding nothing
    assert pool.admit(0, 1.0) == Refusal(503, 15.0, 0.0, None)
    spec2 = spec.model_copy(update={"queue": 2, "queue_timeout": None})
    pool = PoolCapacity(spec2, Seeds(1).stream("p"), 60.0)
    for _ in range(4):
        pool.admit(0, 0.0)
    assert pool.admit(0, 0.0) == Refusal(503, None, 0.0, None)  # two waiting: the queue is full
    assert pool.refused[0] == 1 and pool.queued[0] == 3
    assert pool.admit(0, 10.0) == 20.0  # the first two started; one slot free at 20 s again


def test_time_per_output_token_grows_with_the_batch() -> None:
    spec = Pool(kind="pool", replicas=2, concurrency=4, prefill=0.0, tpot=0.01, batch_slowdown=0.1)
    pool = PoolCapacity(spec, Seeds(1).stream("p"), 60.0)
    answers = [pool.admit(100, 0.0) for _ in range(8)]
    # slots alternate between the replicas: batches 1, 1, 2, 2, 3, 3, 4, 4
    assert answers == pytest.approx([1.0 * (1 + 0.1 * (b - 1)) for b in (1, 1, 2, 2, 3, 3, 4, 4)])


def test_provisioned_throughput_at_120_percent_rejects_a_sixth_of_tokens() -> None:
    # 120 k TPM offered at 100 k TPM provisioned: one request of 1,000 tokens every 0.5 s
    cap = ProvisionedCapacity(Provisioned(kind="provisioned", tpm=100_000), 3600.0)
    rng = np.random.default_rng(3)
    now = 0.0
    for _ in range(100_000):
        now += rng.exponential(0.5)
        cap.admit(1000, now)
    assert sum(cap.rejected) / sum(cap.offered) == pytest.approx(1 / 6, rel=0.03)


def provisioned_world(**over) -> sim.Scenario:
    # 120 % of 270 k TPM: 6 requests/s of 600 prompt + 300 completion tokens (max_tokens 500)
    fields = {
        "duration": 1800.0,
        "vendors": {
            "azure": {
                "orgs": [
                    {
                        "name": "ptu",
                        "limits": {"gpt-4o-mini": {"rpm": 10**6, "tpm": 10**9}},
                        "azure": {
                            "endpoint": "https://ptu-eastus.openai.azure.com",
                            "region": "eastus",
                            "deployments": {"gpt-4o-mini": "chat"},
                        },
                        "capacity": {"kind": "provisioned", "tpm": "270k"},
                    }
                ]
            }
        },
        "router": {
            "default_vendor": "azure",
            "max_attempts": 1,
            "attempt_timeout": 30,
            "deadline": 30,
            "wait_for_capacity": False,
        },
        "traffic": {"daily_volume": "6/s", "prompt_tokens": {"median": 600}, "max_tokens": {"median": 500}},
    }
    fields.update(over)
    return scenario(**fields)


def test_provisioned_deployment_end_to_end_429s_with_retry_after_ms() -> None:
    sc = provisioned_world()
    trace = sim.run(sc, "none")
    ded = trace.meta["capacity"]["dedicated"]["ptu"]["*"]
    offered, rejected = sum(ded["offered_tokens"]), sum(ded["rejected_tokens"])
    # the router holds the org for each 429's retry-after, so less than 120 % reaches it; what does
    # is over the capacity, and the deployment admits its capacity: the rest is refused
    assert offered / 1800 * 60 > 1.1 * 270_000
    assert (offered - rejected) / 1800 * 60 == pytest.approx(270_000, rel=0.03)
    share = rejected / offered
    limited = trace.attempts["outcome"] == OUTCOME_CODES[Outcome.RATE_LIMITED]
    assert limited.mean() == pytest.approx(share, abs=0.02)  # same-size requests: as many requests as tokens
    # the org's own latency under the capacity: flat (its lognormal), whatever the load
    ok = trace.attempts["outcome"] == OUTCOME_CODES[Outcome.SUCCESS]
    lat = (trace.attempts["end"] - trace.attempts["start"])[ok]
    assert np.median(lat) == pytest.approx(0.8, rel=0.05)
    org = VendorWorld(sc, Seeds(1)).by_name["ptu"]
    answers = [org.decide("gpt-4o-mini", 600, 500, 30.0, 0.0) for _ in range(60)]
    refused = [d for d in answers if d.status == 429]
    assert refused, "60 at once go over the 10 s burst (50 of them)"
    h = refused[0].headers
    assert int(h["retry-after-ms"]) > 0 and h["x-ms-region"]
    assert refused[0].body["error"]["code"] == "429"


def pool_world(**over) -> sim.Scenario:
    fields = {
        "duration": 900.0,
        "pods": 3,
        "state": "local",
        "vendors": {
            "openai": {
                "orgs": [
                    {
                        "name": "vllm",
                        "capacity": {
                            "kind": "pool",
                            "replicas": 2,
                            "concurrency": 4,
                            "prefill": "200ms",
                            "tpot": "20ms",
                            "batch_slowdown": "5%",
                            "queue": 20,
                            "queue_timeout": "4s",
                        },
                    }
                ]
            }
        },
        "router": {"max_attempts": 3, "attempt_timeout": 6, "deadline": 20},
        # ~1.1 x the pool: it queues, times out and refuses
        "traffic": {"daily_volume": "3/s", "prompt_tokens": {"median": 300}, "max_tokens": {"median": 200}},
        "modifiers": [{"kind": "slow", "targets": ["vllm"], "start": 300, "end": 420, "latency_factor": 2.0}],
    }
    fields.update(over)
    return scenario(**fields)


@pytest.fixture(scope="module")
def pool_fast_and_full():
    sc = pool_world()
    return sim.run(sc, "none", mode="fast"), sim.run(sc, "none", mode="full")


def test_pool_world_queues_refuses_and_times_out(pool_fast_and_full) -> None:
    fast, _ = pool_fast_and_full
    outcomes = set(fast.attempts["outcome"].tolist())
    for o in (Outcome.SUCCESS, Outcome.SERVER, Outcome.TIMEOUT):
        assert OUTCOME_CODES[o] in outcomes, o
    ded = fast.meta["capacity"]["dedicated"]["vllm"]["*"]
    assert sum(ded["attempts"]) == fast.n_attempts  # every attempt of every pod, retries included
    assert sum(ded["refused"]) == int(np.sum(fast.attempts["status"] == 503))
    assert 1 < max(ded["max_queue"]) <= 21  # bounded: 20 waiting, +1 refused


def test_fast_and_full_mode_identical_with_a_pool(pool_fast_and_full) -> None:
    fast, full = pool_fast_and_full
    for table in ("requests", "attempts", "events"):
        a, b = getattr(fast, table), getattr(full, table)
        for col in a:
            assert np.array_equal(a[col], b[col], equal_nan=a[col].dtype.kind == "f"), (table, col)
    assert fast.meta["capacity"] == full.meta["capacity"]


def test_async_face_meets_the_same_pool() -> None:
    sc = pool_world(duration=400.0)
    sync, aio = sim.run(sc, "none"), sim.run(sc, "none", face="async")
    for col in sync.attempts:
        assert np.array_equal(sync.attempts[col], aio.attempts[col]), col
    assert sync.meta["capacity"] == aio.meta["capacity"]


def test_engine_hands_every_attempt_to_the_pool_at_its_start(pool_fast_and_full) -> None:
    # replaying the attempts' start times through a fresh pool gives each attempt's time exactly
    fast, _ = pool_fast_and_full
    sc = pool_world()
    org = VendorWorld(sc, Seeds(sc.seed), sc.modifiers).by_name["vllm"]
    a = fast.attempts
    order = np.argsort(a["start"], kind="stable")
    ok = OUTCOME_CODES[Outcome.SUCCESS]
    n_ok = 0
    for i in order[:2000].tolist():
        d = org.decide("gpt-4o-mini", 300, 200, 6.0, float(a["start"][i]))
        if a["outcome"][i] == ok:
            n_ok += 1
            assert d.latency == pytest.approx(a["end"][i] - a["start"][i], abs=1e-6)
    assert n_ok > 500


def test_pool_runs_are_byte_identical(tmp_path) -> None:
    sc = pool_world(duration=300.0)
    p1 = sim.run(sc, "exponential").save(tmp_path / "a.npz")
    p2 = sim.run(sc, "exponential").save(tmp_path / "b.npz")
    assert p1.read_bytes() == p2.read_bytes()


def test_scaling_scales_the_capacity() -> None:
    sc = pool_world().scaled(0.5)
    org = sc.vendors["openai"].orgs[0]
    assert org.capacity.replicas == 1 and org.capacity.queue == 10  # type: ignore[union-attr]
    assert any("replicas are whole GPUs (vllm)" in c for c in sc.scale_caveats())
    assert not any("GPUs" in c for c in provisioned_world().scaled(0.5).scale_caveats())
    p = provisioned_world().scaled(0.1).vendors["azure"].orgs[0].capacity
    assert p.tpm == 27_000  # type: ignore[union-attr]


def test_a_bad_capacity_is_a_one_line_error(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nduration: 60\nvendors:\n  openai:\n    orgs:\n"
        "      - name: o1\n        capacity: {kind: pool, replicas: 0}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert "\n" not in msg and "bad.yaml" in msg and "replicas" in msg


def test_orgs_naming_a_capacity_share_one_pool() -> None:
    gateways = [
        {"name": "gw-a", "capacity": {"kind": "pool", "replicas": 1, "concurrency": 2, "prefill": 1.0, "tpot": 0.0}},
        {"name": "gw-b", "capacity": "gw-a"},
    ]
    sc = pool_world(vendors={"openai": {"orgs": gateways}}, modifiers=[])
    world = VendorWorld(sc, Seeds(1))
    a, b = world.by_name["gw-a"], world.by_name["gw-b"]
    assert [a.decide("m", 10, 10, 60.0, 0.0).latency, b.decide("m", 10, 10, 60.0, 0.0).latency] == [1.0, 1.0]
    assert b.decide("m", 10, 10, 60.0, 0.0).latency == 2.0  # both slots busy: it queues behind gw-a's
    assert b.capacity_meta() == {} and sum(a.capacity_meta()["*"]["attempts"]) == 3
    with pytest.raises(ValueError, match="capacity 'gw-x' is not an org that declares a capacity"):
        pool_world(vendors={"openai": {"orgs": [{"name": "gw-b", "capacity": "gw-x"}]}}, modifiers=[])


def test_a_policy_entry_runs_with_its_own_router_settings() -> None:
    policies = [{"name": "none", "label": "no-budget", "router": {"retry_budget_ratio": 100}}, {"name": "none"}]
    sc = pool_world(duration=60.0, policies=policies)
    unbounded = sim.run(sc, sc.policies[0])
    assert unbounded.meta["router"]["retry_budget_ratio"] == 100
    assert sim.run(sc, sc.policies[1]).meta["router"]["retry_budget_ratio"] == sc.router.retry_budget_ratio
    with pytest.raises(ValueError, match="unknown setting 'retry_budget'"):
        pool_world(policies=[{"name": "none", "router": {"retry_budget": 1}}])
    with pytest.raises(ValueError, match="retry_budget_ratio"):
        pool_world(policies=[{"name": "none", "router": {"retry_budget_ratio": -1}}])
