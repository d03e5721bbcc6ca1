"""Benchmarks behind ``fastnn bench``: fastnn beside the NumPy reference and PyTorch, one table."""
