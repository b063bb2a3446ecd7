"""Benchmarks and load generators: runnable modules (``python -m benchmarks.<name>``), never collected by pytest.

They work in temporary folders or files they are told to write, talk only to servers they start on
127.0.0.1, and print their figures.
"""
