"""What lets one run hold a million samples: samples indexed by offset (rows read back, not held), a plan from the
identity of each sample's inputs, and xdist bookkeeping that stays linear. Memory and time themselves are measured
by bench/scale.py, not here."""

from __future__ import annotations

import gzip
from types import SimpleNamespace

import orjson
import pytest

from pytest_heval.inputs import Inputs
from pytest_heval.grader import plan_samples
from pytest_heval.plan import Plan
from pytest_heval.plugin.xdist import BatchScheduling

PROBLEMS = [{"task_id": f"T/{i}", "prompt": f"fn f{i}() -> i32 {{", "test": "#[test] fn t() {}"} for i in range(3)]


def _write(path, rows, gz=False):
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def _inputs(tmp_path):
    return Inputs([_write(tmp_path / "problems.jsonl", PROBLEMS)])


@pytest.mark.parametrize("gz", [False, True])
def test_rows_are_read_back_whole_whatever_their_length(tmp_path, gz):
    rows = [{"task_id": f"T/{n % 3}", "completion": "x" * n, "extra": {"n": n}}
            for n in (0, 1, 4000, 4080, 4096, 5000, 70000, 200_000, 3)]
    name = "s.jsonl.gz" if gz else "s.jsonl"
    ss = _inputs(tmp_path).load(_write(tmp_path / name, rows, gz))
    assert len(ss) == len(rows) and ss.task_ids == [r["task_id"] for r in rows]
    for i in reversed(range(len(rows))):  # out of order: each row found by its offset
        assert ss.sample(i).row == rows[i] and ss.sample(i).index == i and ss.sample(i).line == i + 1
    assert [s.row for s in ss] == rows


def test_a_sample_set_holds_one_task_id_string_per_task_and_one_problem_per_problem(tmp_path):
    rows = [{"task_id": f"T/{i % 3}", "completion": f"{i}"} for i in range(30)]
    ss = _inputs(tmp_path).load(_write(tmp_path / "s.jsonl", rows))
    assert len({id(t) for t in ss.task_ids}) == 3
    assert len(ss.distinct_problems) == 3 and ss.problem(4) is ss.problem(1)


def test_identity_is_problem_and_completion(tmp_path):
    rows = [{"task_id": "T/0", "completion": "a"}, {"task_id": "T/1", "completion": "a"},
            {"task_id": "T/0", "completion": "a", "model": "other"},  # other fields do not matter
            {"task_id": "T/0", "completion": "b"},
            # a row carrying its own problem: another problem, though its task id and completion are T/0's
            {"task_id": "T/0", "completion": "a", "prompt": "fn g() -> i32 {", "test": "#[test] fn t() {}"}]
    ss = _inputs(tmp_path).load(_write(tmp_path / "s.jsonl", rows))
    ids = list(ss.ident)
    assert ids[0] == ids[2] and len(set(ids)) == 4 and len(ss.idents) == 4


def test_the_plan_of_several_files_numbers_identities_across_them(tmp_path):
    inputs = _inputs(tmp_path)
    a = _write(tmp_path / "a.jsonl", [{"task_id": "T/0", "completion": c} for c in "xyz"])
    b = _write(tmp_path / "b.jsonl", [{"task_id": "T/0", "completion": c} for c in "zwx"])
    plan = plan_samples(inputs, [a, b], batch=2, workers=0)
    assert plan.key((a, 0)) == plan.key((b, 2)) and plan.key((a, 2)) == plan.key((b, 0))
    assert plan.distinct == 4 and plan.duplicates == 2 and plan.samples == 6
    assert plan.scope((a, 0)) == plan.scope((a, 1)) == 0 and plan.scope((b, 1)) == 1  # 2 distinct per batch
    assert (a, 3) not in plan and ("elsewhere", 0) not in plan and (b, 1) in plan


def test_a_plan_of_pairs_is_the_same_plan():
    plan = Plan.of([(("f", 0), "k1"), (("f", 1), "k2"), (("g", 0), "k1")], size=1)
    assert plan.key(("g", 0)) == "k1" and plan.first_ref["k1"] == ("f", 0)
    assert plan.distinct == 2 and plan.duplicates == 1 and plan.scope(("f", 1)) == 1
    assert ("g", 1) not in plan


# ---------------------------------------------------------------- the xdist scheduler's bookkeeping

class _Node:
    def __init__(self, name):
        self.name, self.shutting_down, self.sent, self.down = name, False, [], False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indexes):
        self.sent.append(list(indexes))

    def shutdown(self):
        self.down = True


def _scheduler(n_items=40, scope_size=10, nodes=2):
    """Our scheduler as xdist's DSession drives it, with stand-in worker nodes (pure bookkeeping: no process)."""
    config = SimpleNamespace(getvalue=lambda name: [f"{nodes}*popen"] if name == "tx" else None,
                             option=SimpleNamespace(loadscopereorder=False))
    sched = BatchScheduling(config, None, lambda nodeid: f"batch-{int(nodeid.rsplit('#', 1)[1]) // scope_size}")
    sched.log = lambda *a: None
    ids = [f"s.jsonl::T/0#{i}" for i in range(n_items)]
    ns = [_Node(f"gw{i}") for i in range(nodes)]
    for n in ns:
        sched.add_node(n)
        sched.add_node_collection(n, list(ids))  # each worker's own list, as xdist receives them
    return sched, ns, ids


def test_workers_that_collected_the_same_share_one_collection():
    sched, ns, _ = _scheduler()
    sched.schedule()
    assert sched.registered_collections[ns[0]] is sched.registered_collections[ns[1]]


def test_every_sample_is_sent_once_and_finished_scopes_are_forgotten():
    sched, ns, ids = _scheduler(n_items=40, scope_size=10)
    sched.schedule()
    done = set()
    while not sched.tests_finished:
        progressed = False
        for n in ns:
            pending = [i for batch in n.sent for i in batch if i not in done]
            if pending:
                i = pending[0]
                done.add(i)
                sched.mark_test_complete(n, i)
                progressed = True
        assert progressed
    for n in ns:
        pending = [i for batch in n.sent for i in batch if i not in done]
        for i in pending:
            done.add(i)
            sched.mark_test_complete(n, i)
    sent = sorted(i for n in ns for batch in n.sent for i in batch)
    assert sent == list(range(40))  # each once
    assert all(not work for work in sched.assigned_work.values())  # every finished scope forgotten
    assert not sched.has_pending and sched._left == {}


def test_a_dead_node_gives_back_what_it_had_not_finished():
    sched, ns, ids = _scheduler(n_items=40, scope_size=10)
    sched.schedule()
    a = ns[0]
    first = a.sent[0]
    sched.mark_test_complete(a, first[0])
    crashed_on = sched.remove_node(a)
    assert crashed_on == ids[first[1]]  # the first unfinished one
    # its unfinished samples are queued again, its finished one is not
    queued = {nodeid for unit in sched.workqueue.values() for nodeid, done in unit.items() if not done}
    assert ids[first[0]] not in queued and all(ids[i] in queued for i in first[1:])
