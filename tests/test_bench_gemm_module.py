"""fastnn.bench.gemm (the GEMM speed table) runs and reports consistent rows."""
import numpy as np
import pytest

from fastnn.bench import gemm as bench

pytest.importorskip("threadpoolctl")


def test_run_and_format_tiny():
    cases = [bench.GemmCase(8, 5, 7), bench.GemmCase(9, 4, 3, "TN")]
    result = bench.run(threads=(1, 2), shapes=cases, rounds=2, block=1e-3, peers=("numpy",))
    assert set(result["tables"]) == {"1", "2"}
    for rows in result["tables"].values():
        assert [r["shape"] for r in rows] == ["8x5x7 NN", "9x4x3 TN"]
        for r in rows:
            assert r["fastnn"] > 0 and r["numpy"] > 0 and r["torch"] is None and r["fastnn/torch"] is None
            lo, hi = r["fastnn/numpy_range"]
            assert np.isfinite(r["fastnn/numpy"]) and lo <= r["fastnn/numpy"] <= hi and r["pct_peak"] > 0
    assert result["blas"] and result["isa"] == __import__("fastnn").get_isa()
    text = bench.format_tables(result)
    assert "8x5x7 NN" in text and "1 thread " in text and "2 threads" in text and "SIGSTOP" in text


def test_bad_trans_is_an_error():
    with pytest.raises(ValueError, match="received: trans='XN'"):
        bench.GemmCase(2, 2, 2, "XN")


def test_fair_environment_drops_openblas_overrides():
    env = bench.fair_environment({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1", "KEEP": "x"})
    assert env == {"KEEP": "x"}
