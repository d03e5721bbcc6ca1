"""fastnn.bench.gemm (the GEMM speed table) runs and reports consistent rows."""
import numpy as np
import pytest

from fastnn.bench import gemm as bench

pytest.importorskip("threadpoolctl")


def test_run_and_format_tiny():
    cases = [bench.GemmCase(8, 5, 7), bench.GemmCase(9, 4, 3, "TN")]
    result = bench.run(threads=(1,), shapes=cases, reps=2, min_seconds=1e-4, peers=("numpy",))
    rows = result["tables"]["1"]
    assert [r["shape"] for r in rows] == ["8x5x7 NN", "9x4x3 TN"]
    for r in rows:
        assert r["fastnn"] > 0 and r["numpy"] > 0 and r["torch"] is None
        assert np.isfinite(r["fastnn/numpy"]) and r["pct_peak"] > 0
    text = bench.format_tables(result)
    assert "8x5x7 NN" in text and "1 thread" in text


def test_fair_environment_drops_openblas_overrides():
    env = bench.fair_environment({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1", "KEEP": "x"})
    assert env == {"KEEP": "x"}
