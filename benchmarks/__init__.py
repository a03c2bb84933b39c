"""JustJIT's benchmark suite: ``python -m benchmarks [--quick]`` (see ``benchmarks/run.py``)."""
