"""The script to hand ``spark-submit``: ``searchsafe spark`` with the master and settings spark-submit gives.

Run it as::

    spark-submit --master yarn --executor-memory 2g \\
        "$(python -c 'import searchsafe.cli.spark_submit as m; print(m.__file__)')" \\
        score hdfs:///logs/2026-12-01 --out hdfs:///scored/2026-12-01

Everything after the script is what ``searchsafe spark`` takes.
"""

import os
import sys

if __name__ == "__main__":  # pragma: no cover - exercised through spark-submit in tests
    # A script's own directory comes first on sys.path; this one's modules must not shadow others.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    from searchsafe.cli import main

    raise SystemExit(main(["spark", *sys.argv[1:]]))
