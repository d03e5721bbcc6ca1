"""Benchmark helpers shared by benchmarks/ scripts and the ``fastnn bench`` command."""
