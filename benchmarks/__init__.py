"""Benchmarks for searchsafe: speed, peers and public datasets.

Run the whole suite with ``python benchmarks/run_all.py`` (see benchmarks/README.md).
Nothing here is part of the installed package.
"""
