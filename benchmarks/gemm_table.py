"""Print the GEMM speed table (fastnn vs NumPy's OpenBLAS vs PyTorch) for 1 and 2 threads.

    PYTHONPATH=. python benchmarks/gemm_table.py [--quick] [--threads 1 2] [--json PATH]

Re-executes itself without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (that process only) so NumPy
runs its best kernel; see fastnn/bench/gemm.py for the method.
"""
import sys

from fastnn.bench.gemm import main

if __name__ == "__main__":
    sys.exit(main())
