"""Fuzz targets shared by the hypothesis tests (short, in CI) and the atheris entry point (long, local)."""
