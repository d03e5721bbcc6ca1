"""TEST-ONLY shim for the api branch: the layers are written against docs/ops.md, but on this
branch ``fastnn.ops`` has only the activations, softmax and gemm. For every op named in
docs/ops.md that ``fastnn.ops`` lacks, bind ``fastnn.ops.<name>`` to ``fastnn.reference.<name>``
when that exists. The integrator removes this file (and its conftest block) once the native
ops are merged; ``SHIMMED`` lists what ran against the reference (printed in the report header).
The tests themselves do not import this module (they use tests/nn_helpers.py), so deleting it
is all the clean-up there is.
"""
from __future__ import annotations

import pathlib
import re

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


install()
