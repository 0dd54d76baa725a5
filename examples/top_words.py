"""Write a word list for the README's sweep walkthrough: frequent words that training never used.

    python examples/top_words.py ko 5000      # -> examples/out/top_ko.txt

The N most frequent words of the language in wordfreq (``pip install wordfreq``),
keeping only the held-out ones (``searchsafe._wordsources.is_heldout``), one per
line, most frequent first. Deterministic for a given wordfreq version. The file
goes to ``examples/out/``, which git ignores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# make_labels.py's writer (temporary file beside the target, then os.replace); examples/ is sys.path[0]
# when this runs as `python examples/top_words.py`.
from make_labels import atomic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main(argv: list[str] | None = None) -> int:
    from searchsafe._wordsources import is_heldout, wordfreq_words

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lang", choices=("ja", "ko"))
    ap.add_argument("n", type=int, help="how many of the most frequent words to consider")
    ap.add_argument("--out", type=Path, help="default: examples/out/top_LANG.txt")
    args = ap.parse_args(argv)
    out = args.out or HERE / "out" / f"top_{args.lang}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    words = [w for w, _ in wordfreq_words(args.lang, args.n) if is_heldout(w)]
    with atomic(out, newline=None) as f:  # newline=None: line ends as this script always wrote them
        f.write("".join(w + "\n" for w in words))
    print(f"wrote {out.relative_to(HERE.parent) if out.is_relative_to(HERE.parent) else out} "
          f"({len(words)} held-out words of the top {args.n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
