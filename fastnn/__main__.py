"""The ``fastnn`` command (also ``python -m fastnn``)."""
from __future__ import annotations

import argparse
import sys

import numpy as np


def _selfcheck(args) -> int:
    """Run every native op on a random input and compare it with fastnn.reference."""
    from . import _selfcheck as sc

    failures = sc.run(verbose=True)
    print(f"selfcheck: {sc.count_checks() - failures} passed, {failures} failed")
    return 1 if failures else 0


def _info(args) -> int:
    from . import show_config

    show_config()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: readable deep learning with fast native kernels")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="print version, compiler, ISA, threads, CUDA availability")
    p.set_defaults(func=_info)
    p = sub.add_parser("selfcheck", help="check every native kernel against the NumPy reference")
    p.set_defaults(func=_selfcheck)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
