"""The project's own measurements, run by ``./dev bench`` (``python -m benchmarks``); not shipped in the library."""
