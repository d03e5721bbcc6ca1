"""fastnn/_core.pyi describes exactly what the compiled module exports."""
import ast
import pathlib

import fastnn
from fastnn import _core


def _stub_functions():
    stub = pathlib.Path(fastnn.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    return {node.name: [a.arg for a in node.args.args] for node in tree.body if isinstance(node, ast.FunctionDef)}


def _module_functions():
    return sorted(name for name in dir(_core) if not name.startswith("_") and callable(getattr(_core, name)))


def test_stub_lists_every_function():
    assert sorted(_stub_functions()) == _module_functions()


def test_stub_argument_names_match_docstrings():
    stub = _stub_functions()
    for name, args in stub.items():
        signature = getattr(_core, name).__doc__.splitlines()[0]  # pybind11: "name(arg: type, ...) -> ret"
        for arg in args:
            assert f"{arg}:" in signature, f"_core.{name}: stub argument '{arg}' not in {signature!r}"
        inside = signature[signature.index("(") + 1: signature.rindex(")")]
        native_count = 0 if not inside.strip() else inside.count(":")
        assert native_count == len(args), f"_core.{name}: {signature!r} vs stub {args}"
