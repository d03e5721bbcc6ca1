#!/usr/bin/env bash
# Developer build: compiles fastnn._core in build/dev and copies it next to the sources, so
# `PYTHONPATH=. pytest` tests this tree without a pip install. Release build, same flags as pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pybind11_dir=$("$PY" -m pybind11 --cmakedir)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -Dpybind11_DIR="$pybind11_dir" \
  -DPython_EXECUTABLE="$(command -v "$PY")" -DSKBUILD_PROJECT_VERSION="$version" "$@" >/dev/null
cmake --build build/dev
# Replace the module atomically: copying over a library a running process has mapped makes
# that process die with SIGBUS.
for so in build/dev/_core*.so; do
  cp "$so" "fastnn/.$(basename "$so").tmp" && mv -f "fastnn/.$(basename "$so").tmp" "fastnn/$(basename "$so")"
done
