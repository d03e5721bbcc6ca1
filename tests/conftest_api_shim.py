"""TEST-ONLY shim for the api branch: the layers are written against docs/ops.md, but on this
branch ``fastnn.ops`` has only the activations, softmax and gemm. For every op named in
docs/ops.md that ``fastnn.ops`` lacks, bind ``fastnn.ops.<name>`` to ``fastnn.reference.<name>``
when that exists. The integrator removes this file (and its conftest block) once the native
ops are merged; ``SHIMMED`` lists what ran against the reference (printed in the report header).
"""
from __future__ import annotations

import pathlib
import re

import pytest

import fastnn

_DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "ops.md"


def contract_names() -> list[str]:
    """Function names in docs/ops.md: every backticked ``name(`` (in order, unique)."""
    names = re.findall(r"`([a-z][a-z0-9_]*)\(", _DOC.read_text(encoding="utf-8"))
    return [n for n in dict.fromkeys(names) if n != "op"]  # "op(a) @ op(b)" is notation, not an op


SHIMMED: list[str] = []   # bound to fastnn.reference.<name>
MISSING: list[str] = []   # neither native nor reference yet


def install() -> None:
    for name in contract_names():
        if hasattr(fastnn.ops, name):
            continue
        ref = getattr(fastnn.reference, name, None)
        if ref is not None:
            setattr(fastnn.ops, name, ref)
            SHIMMED.append(name)
        else:
            MISSING.append(name)


def require_ops(*names: str) -> None:
    """Skip the calling test when fastnn.ops lacks one of the ops it needs."""
    missing = [n for n in names if not hasattr(fastnn.ops, n)]
    if missing:
        pytest.skip(f"needs fastnn.ops.{', fastnn.ops.'.join(missing)}: neither the native op nor "
                    f"fastnn.reference.{missing[0]} exists on this branch yet")


install()
