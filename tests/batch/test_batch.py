"""Offline jobs in the planner: pricing by simulation, the joint MILP, its checker, the CLI."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from sloserve.batch import BatchJob, cost_by_gpu, price_job, work_table
from sloserve.batch.check import check_joint
from sloserve.batch.price import usable_h
from sloserve.batch.joint import add_batch, greedy_batch, joint_objective, solve_joint
from sloserve.cli.main import main
from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import GpuOverride, load_scenario
from sloserve.problem.instance import build_instance
from sloserve.solvers import SolveOptions, solve

GOOD = Path(__file__).resolve().parents[1] / "bad_inputs" / "cases" / "scenario" / "good.yaml"
JOB = BatchJob(name="eval", deadline_h=0.3, mixture={"code": 300, "mmlu": 300, "video": 3}, seed=0)


@pytest.fixture(scope="module")
def small():
    sc = load_scenario(GOOD)
    return sc, compile_scenario(sc)


@pytest.fixture(scope="module")
def work(small):
    return work_table(small[1], [JOB])


def test_prices_are_simulated_per_gpu_type_and_order(small):
    _, c = small
    p = price_job(JOB, c, orders=("dfs", "fcfs"), step_modes=("sum", "overlap"))
    assert set(p["gpu"]) == set(c.configs["gpu"]) and set(p["order"]) == {"dfs", "fcfs"}
    D = JOB.deadline_h
    Du = usable_h(D)  # the deadline less its margin
    assert Du < D
    assert (p["work_h"] > p["fixed_h"]).all() and (p["fixed_h"] > 0).all()
    ok = p["replicas"].notna()
    assert ok.any() and (p.loc[~ok, "fixed_h"] >= Du).all(), "replicas missing only where one drain exceeds D'"
    q = p.loc[ok]
    assert (q["replicas"].astype(int) == np.ceil((q["work_h"] - q["fixed_h"]) / (Du - q["fixed_h"]) - 1e-9)).all()
    assert np.allclose(p["job_cost_usd"], p["work_h"] * p["cost_per_hour"])
    assert np.allclose(q["window_cost_usd"], q["replicas"].astype(int) * q["cost_per_hour"] * D)
    assert (q["window_cost_usd"] >= q["job_cost_usd"] - 1e-9).all()
    # one schedule per (configuration, order), timed by both step models: same sharing, other times
    both = p.pivot_table(index=["config", "order"], columns="step_mode", values=["work_h", "sharing_ratio"])
    assert np.allclose(both["sharing_ratio"]["sum"], both["sharing_ratio"]["overlap"])
    assert not np.allclose(both["work_h"]["sum"], both["work_h"]["overlap"])
    best = cost_by_gpu(p)
    assert len(best) == len(set(p["gpu"])) * 2 * 2


def test_a_job_no_configuration_can_run_is_diagnosed(small):
    from sloserve.errors import InfeasibleError
    with pytest.raises(InfeasibleError, match="model not allowed"):
        price_job(dataclasses.replace(JOB, models=("qwen2.5-14b",)), small[1])


def test_the_joint_milp_is_the_online_milp_plus_the_jobs(small, work):
    _, c = small
    inst = build_instance(c)
    online = solve(inst, "milp", SolveOptions())
    jp = solve_joint(c, work, method="milp", inst=inst)
    assert jp.status == "optimal" and not check_joint(inst, jp, work)
    assert jp.batch["share"].sum() == pytest.approx(1.0)
    # dedicated replicas: the online part costs what it costs alone, the jobs add their replicas
    assert jp.objective == pytest.approx(online.objective + jp.batch_cost_per_hour, rel=1e-6)
    # the components carry Pyomo names and the model's objective is the plan's
    from sloserve.solvers.milp.data import create_pyomo_instance, set_values
    from sloserve.batch.joint import _set_batch_values
    m = create_pyomo_instance(inst)
    add_batch(m, work, c)
    assert not m.cost.active and m.cost_with_batch.active
    set_values(m, jp.online)
    _set_batch_values(m, jp.batch)
    assert pyo.value(m.cost_with_batch) == pytest.approx(jp.objective, rel=1e-6)
    greedy = solve_joint(c, work, method="greedy", inst=inst)
    assert not check_joint(inst, greedy, work) and greedy.objective >= jp.objective - 1e-6


def online_gpus(inst, plan, gpu: str) -> int:
    from sloserve.problem.plan import arrays_from_plan
    cf = inst.compiled.configs.set_index("config").loc[list(inst.configs)]
    y = np.round(arrays_from_plan(inst, plan).y)
    return int((y * cf["gpus"].to_numpy())[cf["gpu"].to_numpy() == gpu].sum())


def test_limited_gpus_move_the_job_and_the_checker_sees_a_short_plan(small, work):
    sc, c = small
    jp = solve_joint(c, work, method="milp")
    gpu = jp.batch["gpu"].iloc[0]
    inst0 = build_instance(c)
    used = online_gpus(inst0, jp.online, gpu)
    sc2 = dataclasses.replace(sc, gpu_overrides={**sc.gpu_overrides, gpu: GpuOverride(available=used)})
    c2 = compile_scenario(sc2)
    w2 = work_table(c2, [JOB])
    jp2 = solve_joint(c2, w2, method="milp")
    inst2 = build_instance(c2)
    assert not check_joint(inst2, jp2, w2)
    assert gpu not in set(jp2.batch.loc[jp2.batch["replicas"] > 0, "gpu"])
    assert jp2.objective >= jp.objective - 1e-6
    # one replica fewer than the deadline needs: batch_deadline is violated, and named
    short = dataclasses.replace(jp, batch=jp.batch.assign(replicas=jp.batch["replicas"] - 1))
    short.objective = joint_objective(inst0, short.online, short.batch, work)
    bad = check_joint(inst0, short, work)
    assert [v.constraint for v in bad] == ["batch_deadline"]


def test_each_replica_pays_its_drain(small, work):
    """A tighter deadline needs more replicas, and each one drains once: the job costs more, not the same."""
    _, c = small
    loose = solve_joint(c, work, method="milp")
    f = float(work["fixed_h"].min())
    tight_work = work.assign(deadline_h=(f + 0.3 * (float(work["work_h"].min()) - f)) / usable_h(1.0))
    tight = solve_joint(c, tight_work, method="milp")
    assert tight.batch["replicas"].sum() > loose.batch["replicas"].sum()
    assert tight.batch_cost_usd > loose.batch_cost_usd
    r = tight.batch.iloc[0]
    assert tight.batch_cost_usd == pytest.approx(r.cost_per_hour * ((r.work_h - r.fixed_h) * r.share + r.fixed_h * r.replicas))


def test_greedy_refuses_when_the_online_plan_leaves_no_gpus(small, work):
    from sloserve.errors import InfeasibleError
    sc, c = small
    sc2 = dataclasses.replace(sc, gpu_overrides={g: GpuOverride(available=2) for g in sc.gpus})
    c2 = compile_scenario(sc2)
    inst = build_instance(c2)
    online = solve(inst, "agh", SolveOptions())
    with pytest.raises(InfeasibleError, match="one replica's warm-up and drain alone take longer than the deadline"):
        greedy_batch(inst, online, work_table(c2, [dataclasses.replace(JOB, deadline_h=0.001)]))
    w = work_table(c2, [JOB])
    tight = w.assign(deadline_h=float(w["fixed_h"].min()) * 1.12)  # many replicas where it can finish at all: > 2 GPUs
    with pytest.raises(InfeasibleError, match="no configuration has the GPUs"):
        greedy_batch(inst, online, tight)


def test_cli_prints_cost_per_gpu_type_and_order_and_plans_jointly(tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text("name: eval\ndeadline_h: 0.3\nworkload:\n  mixture: {code: 300, mmlu: 300, video: 3}\n")
    code = main(["batch", str(job), "--scenario", str(GOOD), "--orders", "dfs,blendserve", "--plan",
                 "--json", str(tmp_path / "p.json"), "--out", str(tmp_path / "plan.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "cost to finish the job" in out and "blendserve" in out and "dfs" in out
    assert "joint plan (milp): status optimal" in out and "checker: every constraint holds" in out
    assert (tmp_path / "p.json").exists() and (tmp_path / "plan.json").exists()


def test_the_job_spec_names_the_simulators_classes_and_orders():
    from sloserve.model import batch_job
    from sloserve.sim.offline import ORDERS
    from sloserve.sim.offline.workloads import CLASSES
    assert batch_job.CLASSES == CLASSES
    assert sorted(batch_job.ORDER_NAMES) == sorted(ORDERS.names())
