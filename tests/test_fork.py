"""fastnn in processes forked after its kernels ran threads (multiprocessing's default start
method on Linux): GNU OpenMP's thread pool does not survive fork, and such a child used to hang
in its first threaded kernel. Now the child's kernels run on one thread (as PyTorch's do).

Each case runs in a fresh Python with a timeout, so a hang fails the test instead of stopping
the suite.
"""
import os
import subprocess
import sys

import pytest

from test_config import fastnn_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

TIMEOUT = 120


def _run(code, tmp_path):
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=fastnn_env(),
                             cwd=tmp_path, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hung (killed after {TIMEOUT} s): {e.stdout!r} {e.stderr!r}")
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


WORK = """
import multiprocessing as mp
import numpy as np
import fastnn
from fastnn import nn, ops

def work(seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((300, 500)).astype(np.float32)
    b = rng.standard_normal((500, 400)).astype(np.float32)
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    fastnn.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(16 * 16 * 16, 10))
    return ops.gemm(a, b), model(x), fastnn.get_num_threads()
"""


def test_forked_workers_after_threaded_kernels_run_on_one_thread(tmp_path):
    code = WORK + """
fastnn.set_num_threads(2)
want = [work(s) for s in range(3)]  # threaded kernels ran in the parent
with mp.get_context("fork").Pool(2) as pool:
    got = pool.map(work, range(3))
for (g1, y1, _), (g2, y2, threads) in zip(want, got):
    assert threads == 1, threads
    np.testing.assert_array_equal(g1, g2)  # thread count never changes the bits
    np.testing.assert_array_equal(y1, y2)
assert fastnn.get_num_threads() == 2  # the parent keeps its threads
print("ok")
"""
    assert _run(code, tmp_path).strip() == "ok"


def test_forked_child_refuses_more_threads_with_a_clear_error(tmp_path):
    code = WORK + """
import os
fastnn.set_num_threads(2)
work(0)
pid = os.fork()
if pid == 0:
    try:
        fastnn.set_num_threads(2)
        os._exit(3)
    except RuntimeError as e:
        if "forked" not in str(e) or "spawn" not in str(e):
            os._exit(4)
    fastnn.set_num_threads(1)  # one thread stays allowed
    work(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    assert _run(code, tmp_path).strip() == "0"


def test_fork_before_any_threaded_kernel_keeps_the_threads(tmp_path):
    code = WORK + """
import os
fastnn.set_num_threads(2)
pid = os.fork()
if pid == 0:
    g, y, threads = work(0)  # libgomp is fresh in this child: threads work
    os._exit(0 if threads == 2 else 5)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    assert _run(code, tmp_path).strip() == "0"
