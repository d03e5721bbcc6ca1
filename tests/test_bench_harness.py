"""fastnn.bench.harness: one worker process per library, idle workers stopped, ratios of the rounds.

The fake cases (bench_fake_cases.py) run in the workers: known costs, crashes, wrong results.
"""
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

import pytest

import fastnn
from bench_fake_cases import process_state
from fastnn.bench.harness import CAN_STOP, BenchError, Case, Comparison, Pool

pytest.importorskip("threadpoolctl")

TESTS = pathlib.Path(__file__).resolve().parent
FAKE = ("bench_fake_cases",)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states in /proc")
needs_stop = pytest.mark.skipif(not CAN_STOP, reason="no SIGSTOP on this platform")


def gone(pid: int) -> bool:
    return process_state(pid) in ("", "Z")  # a zombie no longer runs; init reaps it


def wait_gone(pids, timeout=15.0) -> list:
    """The pids still alive after waiting up to `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not all(gone(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if not gone(p)]


@pytest.fixture
def pool():
    with Pool(("fastnn", "numpy"), threads=1, case_modules=FAKE) as p:
        yield p


# ------------------------------------------------------------------------------------------
# lifecycle

@linux_only
@needs_stop
def test_workers_wait_stopped_and_close_ends_them():
    p = Pool(("fastnn", "numpy"), threads=1, case_modules=FAKE)
    pids = list(p.pids.values())
    try:
        assert p.libs == ["fastnn", "numpy"] and len(set(pids)) == 2 and os.getpid() not in pids
        assert [process_state(pid) for pid in pids] == ["T", "T"]  # stopped between requests
        p.compare(Case("spin", "spin", {"seconds": {"fastnn": 1e-4, "numpy": 1e-4}}), rounds=2, block=0.002)
        assert [process_state(pid) for pid in pids] == ["T", "T"]
    finally:
        p.close()
    assert wait_gone(pids, timeout=0.5) == []  # close() waited for them
    p.close()  # a second close is harmless


@linux_only
@needs_stop
def test_only_the_timed_worker_runs(tmp_path):
    with Pool(("fastnn", "numpy"), threads=1, case_modules=FAKE) as p:
        pids_file = tmp_path / "pids"
        pids_file.write_text(" ".join(str(pid) for pid in p.pids.values()))
        case = Case("probe", "probe", {"pids_file": str(pids_file), "log_dir": str(tmp_path)})
        p.compare(case, rounds=3, block=0.01)
    for lib in ("fastnn", "numpy"):
        states = (tmp_path / f"{lib}.log").read_text().split()
        assert len(states) >= 6  # the first call, the calibration and three blocks
        assert set(states) == {"T"}, f"{lib} saw another worker running: {states}"


def test_without_stopping_workers_keep_running_and_say_so():
    with Pool(("fastnn", "numpy"), threads=1, stop_idle=False, case_modules=FAKE) as p:
        assert any("not stopped" in n for n in p.notes) and "not stopped" in p.description()
        if sys.platform.startswith("linux"):
            assert all(process_state(pid) in ("S", "R") for pid in p.pids.values())
        c = p.compare(Case("spin", "spin", {"seconds": {"fastnn": 1e-3, "numpy": 2e-3}}), rounds=2, block=0.01)
        assert c.ratios["numpy"] > 1.2


_SCRIPT = """
import os, signal, sys
# Ctrl-C as in a terminal, even when this test runs under a shell that started it in the
# background (there SIGINT is inherited as ignored, and Python never raises KeyboardInterrupt)
signal.signal(signal.SIGINT, signal.default_int_handler)
from fastnn.bench.harness import Case, Pool
mode = sys.argv[1]
pool = Pool(("fastnn", "numpy"), threads=1, case_modules=("bench_fake_cases",))
print(" ".join(str(pid) for pid in pool.pids.values()), flush=True)
if mode == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "forgotten":  # no with, no close: the atexit handler ends the workers
    raise RuntimeError("boom")
with pool:
    if mode == "exception":
        raise RuntimeError("boom")
    print("timing", flush=True)
    pool.compare(Case("spin", "spin", {"seconds": {"fastnn": 0.5, "numpy": 0.5}}), rounds=100, block=1.0)
"""


def _script(tmp_path, mode):
    package_parent = str(pathlib.Path(fastnn.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_parent, str(TESTS)]))
    return subprocess.Popen([sys.executable, "-c", _SCRIPT, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)


@linux_only
@pytest.mark.parametrize("mode", ["exception", "forgotten", "sigkill", "interrupt"])
def test_no_orphan_workers(tmp_path, mode):
    proc = _script(tmp_path, mode)
    try:
        first = proc.stdout.readline()
        pids = [int(p) for p in first.split()]
        assert len(pids) == 2, first + proc.stderr.read()
        if mode == "interrupt":  # Ctrl-C while a worker is in a timed block
            assert proc.stdout.readline() == "timing\n"
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    if mode in ("exception", "forgotten"):
        assert "RuntimeError: boom" in err
    if mode == "interrupt":
        assert "KeyboardInterrupt" in err
    assert wait_gone(pids) == [], f"orphan workers after {mode}: {[(p, process_state(p)) for p in pids]}"


# ------------------------------------------------------------------------------------------
# arithmetic

def test_comparison_arithmetic():
    c = Comparison(Case("x", "x"), {"fastnn": [1.0, 2.0, 4.0], "numpy": [3.0, 2.0, 10.0], "torch": [1.0, 1.0, 1.0]},
                   {"fastnn": 5, "numpy": 1, "torch": 2})
    assert c.seconds == {"fastnn": 2.0, "numpy": 3.0, "torch": 1.0}
    assert c.round_ratios("numpy") == [3.0, 1.0, 2.5]
    assert c.ratios == {"numpy": 2.5, "torch": 0.5}  # medians of the per-round ratios
    assert c.ratio_ranges == {"numpy": (1.0, 3.0), "torch": (0.25, 1.0)}
    assert c.preemption_rates == {}
    c.preemptions = {"fastnn": [0, 7, 0], "numpy": [1, 2, 3], "torch": [None, None, None]}
    # fastnn's blocks took 5 calls x (1 + 2 + 4) s, numpy's 1 x 15 s
    assert c.preemption_rates == {"fastnn": 7 / 35, "numpy": 6 / 15, "torch": None}


def test_disturbance_note_names_the_worst_case():
    from fastnn.bench.machine import DISTURBED_PER_S, disturbance_note

    quiet = {"name": "a", "preempted_per_s": {"fastnn": 1.0, "numpy": None}}
    busy = {"name": "b", "preempted_per_s": {"fastnn": 2.0, "torch": DISTURBED_PER_S + 100}}
    assert disturbance_note([quiet], lambda r: r["name"]) == ""
    note = disturbance_note([quiet, busy], lambda r: r["name"])
    assert note.startswith("note: other processes preempted the timed threads in 1 of 2 cases")
    assert f"most: {DISTURBED_PER_S + 100:.0f}/s, torch in b" in note


def test_blocks_count_preemptions(pool):
    c = pool.compare(Case("spin", "spin", {"seconds": {"fastnn": 1e-3, "numpy": 1e-3}}), rounds=2, block=0.01)
    if sys.platform == "win32":
        assert c.preemption_rates == {"fastnn": None, "numpy": None}
    else:
        assert all(len(n) == 2 and all(isinstance(k, int) and k >= 0 for k in n) for n in c.preemptions.values())
        assert all(rate >= 0 for rate in c.preemption_rates.values())


def test_ratios_of_known_costs(pool):
    costs = {"fastnn": 0.004, "numpy": 0.012}
    c = pool.compare(Case("spin", "spin", {"seconds": costs}), rounds=5, block=0.05)
    assert set(c.per_round) == {"fastnn", "numpy"} and all(len(v) == 5 for v in c.per_round.values())
    # the calibration chose about block / cost calls
    assert 8 <= c.calls["fastnn"] <= 14 and 3 <= c.calls["numpy"] <= 5
    # a call never takes less than its busy-wait (in any round), and the best round is close to
    # it: the harness adds little. (Not the median: on a shared VM other tenants' steal time can
    # slow most of 5 rounds by 30 %, which says nothing about the harness; seen here.)
    for lib, cost in costs.items():
        assert all(cost <= t for t in c.per_round[lib])
        assert cost <= c.seconds[lib] and min(c.per_round[lib]) < 1.1 * cost
    ratios = c.round_ratios("numpy")
    assert c.ratios["numpy"] == statistics.median(ratios)
    lo, hi = c.ratio_ranges["numpy"]
    assert lo == min(ratios) <= c.ratios["numpy"] <= hi == max(ratios)
    assert 3.0 / 1.25 < c.ratios["numpy"] < 3.0 * 1.25


def test_a_case_missing_in_one_library_leaves_it_out(pool):
    c = pool.compare(Case("only", "only", {"libs": ["fastnn"]}), rounds=2, block=0.001)
    assert list(c.per_round) == ["fastnn"] and c.ratios == {}
    with pytest.raises(BenchError, match="case 'only numpy' has no fastnn version"):
        pool.compare(Case("only", "only numpy", {"libs": ["numpy"]}), rounds=1, block=0.001)


# ------------------------------------------------------------------------------------------
# errors

def test_different_results_are_an_error(pool):
    pool.compare(Case("value", "same", {"values": {"fastnn": 1.0, "numpy": 1.0 + 1e-6}}), rounds=1, block=0.001)
    with pytest.raises(BenchError, match=r"fastnn and numpy disagree on case 'differ': output 0 mean 1\.0 vs 1\.1"):
        pool.compare(Case("value", "differ", {"values": {"fastnn": 1.0, "numpy": 1.1}}), rounds=1, block=0.001)


@pytest.mark.parametrize("when", ["build", "call"])
def test_a_failing_case_names_the_case_and_the_error(pool, when):
    with pytest.raises(BenchError) as err:
        pool.compare(Case("fail", "breaks", {"fail_lib": "numpy", "when": when}), rounds=1, block=0.001)
    msg = str(err.value)
    assert "the numpy worker failed while running case 'breaks': ValueError:" in msg and "size=-3" in msg
    # the worker survives a Python exception: the pool still works
    c = pool.compare(Case("spin", "after", {"seconds": {"fastnn": 1e-4, "numpy": 1e-4}}), rounds=1, block=0.001)
    assert set(c.seconds) == {"fastnn", "numpy"}


@pytest.mark.skipif(not hasattr(signal, "SIGSEGV"), reason="POSIX signals")
def test_a_crashing_worker_names_the_case_and_the_signal():
    p = Pool(("fastnn", "numpy"), threads=1, case_modules=FAKE)
    pids = list(p.pids.values())
    try:
        with pytest.raises(BenchError, match="the numpy worker was killed by SIGSEGV while running case 'segfault'"):
            p.compare(Case("crash", "segfault", {"crash_lib": "numpy"}), rounds=1, block=0.001)
    finally:
        p.close(graceful=False)
    if sys.platform.startswith("linux"):
        assert wait_gone(pids, timeout=1) == []


def test_unknown_case_kind_is_an_error(pool):
    with pytest.raises(BenchError, match="unknown case kind 'nope'; registered: .*'spin'"):
        pool.compare(Case("nope", "nope"), rounds=1, block=0.001)


@pytest.mark.parametrize("kwargs, words", [
    ({"libs": ("fastnn", "jax")}, "libs must be a non-empty subset"),
    ({"threads": 0}, "received: threads=0"),
])
def test_bad_pool_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Pool(**{"libs": ("fastnn",), **kwargs})


def test_bad_compare_arguments(pool):
    with pytest.raises(ValueError, match="received: rounds=0"):
        pool.compare(Case("spin", "spin", {"seconds": {"fastnn": 0, "numpy": 0}}), rounds=0)


# ------------------------------------------------------------------------------------------
# libraries, environment, threads

def test_a_missing_torch_drops_its_column(tmp_path, monkeypatch):
    hidden = tmp_path / "torch"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('No module named torch (hidden by the test)')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    with Pool(("fastnn", "numpy", "torch"), threads=1, case_modules=FAKE) as p:
        assert p.libs == ["fastnn", "numpy"] and "torch" not in p.info
        assert any(n.startswith("torch is not available (No module named torch (hidden") for n in p.notes)
        c = p.compare(Case("spin", "spin", {"seconds": {"fastnn": 1e-4, "numpy": 1e-4}}), rounds=1, block=0.001)
        assert set(c.ratios) == {"numpy"}


def test_numpy_worker_starts_without_the_openblas_overrides(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    with Pool(("fastnn", "numpy"), threads=1, case_modules=FAKE) as p:
        assert p.info["numpy"]["blas_env"] == {}
    with Pool(("fastnn", "numpy"), threads=1, fair_blas=False, case_modules=FAKE) as p:
        assert p.info["numpy"]["blas_env"] == {"OPENBLAS_CORETYPE": "Haswell"}
        if p.info["numpy"]["blas"].get("internal_api") == "openblas":
            assert p.info["numpy"]["blas"]["architecture"] == "Haswell"


def test_threads_are_set_and_checked_in_every_worker(pool):
    for n in (2, 1):
        pool.set_threads(n)
        assert pool.threads == n
        assert pool.request("fastnn", "threads", n)["fastnn"] == n
        blas = pool.request("numpy", "threads", n).get("blas")
        assert blas in (None, min(n, os.cpu_count()))
