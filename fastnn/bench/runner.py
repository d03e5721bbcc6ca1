"""``fastnn bench [gemm|conv|layers|train|all ...] [--quick] [--json PATH] [--threads N]``.

Each suite prints one table: op / shape, fastnn time, NumPy reference time, PyTorch time (when
installed), the ratios (how many times faster fastnn is; median of the per-round ratios, with
their min-max over the rounds), GFLOP/s and % of the machine's peak where the op has a flop
count. Every suite runs in a :class:`~fastnn.bench.harness.Pool`: one worker process per
library, only one running at a time (harness.py explains why); the machine line says CPU, ISA,
threads, NumPy's BLAS kernel (in its worker, started without the OPENBLAS_CORETYPE override)
and how the timing was done.
"""
from __future__ import annotations

import json
import sys

from .. import _files
from .harness import LIBRARIES, BenchUsageError, Case, Pool
from .machine import disturbance_note, load_average, machine_line, preemption_rates

SUITES = ("gemm", "conv", "layers", "train")
# rounds and seconds per timed block of the conv and layers suites
SETTINGS = {"quick": {"rounds": 3, "block": 0.05}, "full": {"rounds": 9, "block": 0.3}}


def conv_cases(quick: bool):
    shapes = [((128, 1, 28, 28), 32, 3, 1), ((128, 32, 14, 14), 64, 3, 1), ((128, 64, 14, 14), 32, 1, 0),
              ((128, 20, 12, 12), 50, 5, 0)]
    if quick:
        shapes = shapes[1:3]
    cases = []
    import numpy as np

    from .. import _core

    for xs, oc, k, pad in shapes:
        oh = xs[2] + 2 * pad - k + 1
        ow = xs[3] + 2 * pad - k + 1
        # which algorithm fastnn runs for the layer (im2col, pointwise or winograd), from empty
        # operands of the layer's shape (only their shape and dtype matter)
        algo = _core.conv2d_algorithm(np.empty((1,) + xs[1:], np.float32), np.empty((oc, xs[1], k, k), np.float32),
                                      (1, 1), (pad, pad))
        op, shape = f"conv{k}x{k} fwd+bwd {algo}", f"{xs}->{oc} pad {pad}"
        cases.append(Case("conv2d", f"{op} {shape}",
                          {"x_shape": xs, "out_channels": oc, "kernel": k, "padding": pad},
                          flops=3 * 2.0 * xs[0] * oc * oh * ow * xs[1] * k * k,  # forward, dx, dw
                          meta={"op": op, "shape": shape}))
    return cases


def layer_cases(quick: bool):
    def case(kind, op, shape, **params):
        return Case(kind, f"{op} {shape}", params, meta={"op": op, "shape": shape})

    return [
        case("maxpool2d", "maxpool2x2 fwd+bwd", "(128, 32, 28, 28)", x_shape=(128, 32, 28, 28)),
        case("batchnorm2d", "batchnorm2d fwd+bwd", "(128, 64, 14, 14)", x_shape=(128, 64, 14, 14)),
        case("activation", "relu fwd+bwd", "1M", name="relu", size=1 << 20),
        case("activation", "tanh fwd+bwd", "1M", name="tanh", size=1 << 20),
        case("activation", "gelu fwd+bwd", "1M", name="gelu", size=1 << 20),
        case("softmax_ce", "softmax-CE fwd+bwd", "(128, 10)", rows=128, classes=10),
        case("adam", "Adam update", "1M params", size=1 << 20),
    ]


def run_cases(pool: Pool, cases, quick: bool, peak_per_core: float, progress=None):
    """One row per case: ms per call of each library, ratios with their range, GFLOP/s, % peak."""
    settings = SETTINGS["quick" if quick else "full"]
    peak = peak_per_core * pool.threads
    rows = []
    for c in cases:
        cmp = pool.compare(c, **settings)
        ms = {lib: s * 1e3 for lib, s in cmp.seconds.items()}
        row = {"suite": c.kind, **c.meta, "threads": pool.threads,
               "fastnn_ms": ms["fastnn"], "numpy_ms": ms.get("numpy"), "torch_ms": ms.get("torch")}
        for peer in ("numpy", "torch"):
            row[f"vs_{peer}"] = cmp.ratios.get(peer)
            row[f"vs_{peer}_range"] = list(cmp.ratio_ranges[peer]) if peer in cmp.ratios else None
        row["preempted_per_s"] = preemption_rates(cmp)
        if c.flops:
            row["gflops"] = c.flops / cmp.seconds["fastnn"] / 1e9
            row["pct_peak"] = 100 * row["gflops"] / peak
        rows.append(row)
        if progress:
            progress(row)
    return rows


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(value, spread, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}x ({spread[0]:.{digits}f}-{spread[1]:.{digits}f})"


def format_table(rows) -> str:
    head = (f"{'op':<26} {'shape':<28} {'fastnn ms':>10} {'numpy ms':>10} {'torch ms':>10} "
            f"{'vs numpy (range)':>19} {'vs torch (range)':>19} {'GFLOP/s':>8} {'% peak':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        gf, pp = r.get("gflops"), r.get("pct_peak")
        lines.append(f"{r['op']:<26} {r['shape']:<28} {_ms(r['fastnn_ms']):>10} {_ms(r.get('numpy_ms')):>10} "
                     f"{_ms(r.get('torch_ms')):>10} {_ratio(r.get('vs_numpy'), r.get('vs_numpy_range'), 1):>19} "
                     f"{_ratio(r.get('vs_torch'), r.get('vs_torch_range'), 2):>19} "
                     f"{'' if gf is None else f'{gf:8.1f}':>8} {'' if pp is None else f'{pp:6.0f}%':>7}")
    notes = [disturbance_note(rows, lambda r: f"{r['op']} {r['shape']}")]
    if any("winograd" in r["op"] for r in rows):
        notes.append("(conv GFLOP/s count the direct convolution's flops, 2*N*OC*OH*OW*C*KH*KW per pass; "
                     "Winograd layers multiply 2.25x less, so their effective rate can pass 100% of peak)")
    return "\n".join(lines + [n for n in notes if n])


def _selected(suite: str, quick: bool, only):
    """The suite's cases (GemmCase for gemm, recipe names for train), filtered by --only."""
    from . import gemm as gemm_bench
    from . import train as train_bench

    if suite == "gemm":
        items, label = (gemm_bench.QUICK_SHAPES if quick else gemm_bench.SHAPES), (lambda c: c.label)
    elif suite == "train":
        items, label = list(train_bench.RECIPES), (lambda r: r)
    else:
        items = conv_cases(quick) if suite == "conv" else layer_cases(quick)
        label = (lambda c: c.label)
    if only:
        items = [c for c in items if any(text.lower() in label(c).lower() for text in only)]
    return items


def _progress(row) -> None:
    name = f"{row['op']} {row['shape']}" if "op" in row else row.get("recipe") or row["shape"]
    print(f"  done: {name}", file=sys.stderr, flush=True)


def main(args) -> int:
    import fastnn

    from . import gemm as gemm_bench
    from . import train as train_bench

    chosen = [args.suite] if isinstance(args.suite, str) else list(args.suite or ["all"])
    suites = list(SUITES) if "all" in chosen else list(dict.fromkeys(chosen))
    threads = args.threads or fastnn.get_num_threads()
    selection = {s: _selected(s, args.quick, args.only) for s in suites}
    if args.only and not any(selection.values()):
        raise BenchUsageError(f"--only {' '.join(args.only)!r} matches no case of the suites {', '.join(suites)}")
    if args.json:  # before the run, not after minutes of it
        try:
            _files.check_destination(args.json)
        except OSError as e:
            raise BenchUsageError(f"--json {args.json}: {e.strerror}") from None
    results = {}
    for suite in suites:
        if not selection[suite]:
            continue
        with Pool(LIBRARIES, threads=threads, fair_blas=not args.keep_blas_env) as pool:
            if "machine" not in results:
                results["machine"] = machine_line(pool)
                results["threads"] = threads
                print(results["machine"])
                for note in pool.notes:
                    print(f"note: {note}")
            print(f"\n== {suite}", flush=True)
            load_before = load_average()
            if suite == "gemm":
                result = gemm_bench.run(threads=(threads,), quick=args.quick, shapes=selection[suite], pool=pool,
                                        progress=lambda t, row: _progress(row))
                print(gemm_bench.format_tables(result))
            elif suite == "train":
                result = train_bench.run(pool, recipes=selection[suite], quick=args.quick, progress=_progress)
                print(train_bench.format_rows(result))
            else:
                result = run_cases(pool, selection[suite], args.quick, pool.fastnn_peak(), progress=_progress)
                print(format_table(result))
            results[suite] = result
            results.setdefault("load_average", {})[suite] = {"before": load_before, "after": load_average()}
            print(f"(1-minute load average before / after this suite: {load_before} / {load_average()}; "
                  f"this benchmark adds up to its thread count)", flush=True)
    if args.json:
        text = json.dumps(results, indent=2).encode("utf-8")
        _files.atomic_write(args.json, lambda f: f.write(text))
        print(f"\nwrote {args.json}")
    return 0
