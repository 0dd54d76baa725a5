"""Text encodings of input files: the ``--encoding`` option and what to say when a file is not UTF-8.

Spreadsheet programs in Japan and Korea still export CSV as Shift-JIS (Windows
code page 932) or as CP949 (Unified Hangul Code, a superset of EUC-KR). A file
in either fails to decode as UTF-8 on its first non-ASCII byte; the message
then names the line, the encoding the bytes look like and the option to pass.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import re
from pathlib import Path

__all__ = ["DEFAULT_ENCODING", "check_encoding", "python_encoding", "guess_encoding", "decode_error_message"]

DEFAULT_ENCODING = "utf-8"
_KANA = re.compile(r"[\u3040-\u30ff]")
_KANJI = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_HALF_KANA = re.compile(r"[\uff66-\uff9f]")


def _japanese_share(text: str) -> float:
    # Korean bytes read as cp932 come out as half-width katakana, and read as
    # EUC-JP as kanji with hardly any kana; Japanese text has plenty of kana.
    # So text without full-width kana scores nothing, and the share is scaled
    # down when under a fifth of the kana and kanji are kana.
    kana, kanji = len(_KANA.findall(text)), len(_KANJI.findall(text))
    if not kana:
        return 0.0
    # Half-width katakana count once full-width kana vouch for the text (Korean read as cp932 has none).
    half = len(_HALF_KANA.findall(text))
    return (kana + kanji + half) / len(text) * min(1.0, kana / (kana + kanji) / 0.2)


def _korean_share(text: str) -> float:
    # Japanese bytes read as cp949 come out as the rare syllables of its
    # extension; everyday Korean is almost all in KS X 1001's 2,350 syllables,
    # the ones EUC-KR writes in two bytes (CPython's codec writes every other
    # syllable too, as an 8-byte make-up sequence, so "encodes" says nothing).
    common = _ks_x_1001()
    return sum(1 for ch in _HANGUL.findall(text) if ch in common) / len(text)


@functools.lru_cache(maxsize=1)
def _ks_x_1001() -> frozenset[str]:
    out = set()
    for code in range(0xAC00, 0xD7A4):
        ch = chr(code)
        if len(ch.encode("euc-kr")) == 2:
            out.add(ch)
    return frozenset(out)


#: The legacy encodings we recognise, with the name shown to a user and how
#: Japanese or Korean the decoded text looks. cp932 is Microsoft's Shift-JIS
#: (what Excel writes); cp949 is a superset of EUC-KR.
_CANDIDATES = (
    ("cp932", "Shift-JIS", _japanese_share),
    ("cp949", "CP949/EUC-KR", _korean_share),
    ("euc-jp", "EUC-JP", _japanese_share),
)
_SCAN_BYTES = 1 << 16


def check_encoding(name: str) -> str:
    """*name* if Python knows the encoding, else ValueError with a one-line message.

    Examples
    --------
    >>> check_encoding("cp932")
    'cp932'
    >>> check_encoding("shift-jis-x")
    Traceback (most recent call last):
    ...
    ValueError: unknown encoding 'shift-jis-x'; use e.g. utf-8, cp932 (Shift-JIS), cp949 (Korean), euc-jp
    """
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}; use e.g. utf-8, cp932 (Shift-JIS), cp949 (Korean), "
                         "euc-jp") from None
    return name


def python_encoding(name: str) -> str:
    """The codec to open files with: UTF-8 also drops a leading byte-order mark.

    Examples
    --------
    >>> python_encoding("UTF-8"), python_encoding("cp949")
    ('utf-8-sig', 'cp949')
    """
    return "utf-8-sig" if codecs.lookup(name).name == "utf-8" else name


def guess_encoding(raw: bytes) -> tuple[str, str] | None:
    """``(codec, display name)`` of the legacy encoding *raw* most plausibly is, or None.

    A candidate must decode the bytes, and plausible Japanese or Korean
    characters must make up much of the non-ASCII text; the best share wins.

    Examples
    --------
    >>> guess_encoding("猫 飼い方,\\n".encode("cp932"))
    ('cp932', 'Shift-JIS')
    >>> guess_encoding("고양이 키우기,\\n".encode("cp949"))
    ('cp949', 'CP949/EUC-KR')
    >>> guess_encoding(b"\\xff\\xfe\\xfa") is None
    True
    """
    best: tuple[float, tuple[str, str]] | None = None
    for codec, display, script in _CANDIDATES:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            if exc.start < len(raw) - 4:  # not just a character cut at the end of the sample
                continue
            text = raw[: exc.start].decode(codec)
        wide = "".join(ch for ch in text if ord(ch) > 0x7F and not ch.isspace())
        if not wide:
            continue
        share = script(wide)
        if share >= 0.4 and (best is None or share > best[0]):
            best = (share, (codec, display))
    return best[1] if best else None


def _first_bad_line(path: Path, encoding: str) -> tuple[int, bytes]:
    """The number of the first line of *path* that does not decode, and the bytes around it."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        decoder = codecs.getincrementaldecoder(encoding)()
        for lineno, line in enumerate(f, 1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return lineno, line + f.read(_SCAN_BYTES)
    return 0, b""


def decode_error_message(name: str, encoding: str, *, path: Path | None = None, lineno: int | None = None,
                         raw: bytes = b"") -> str:
    """One line for a file (or stdin) that is not in *encoding*: where, and which ``--encoding`` to pass.

    With *path*, the file is re-read to find the first line that does not
    decode; otherwise *lineno* and the *raw* bytes of that line are used.

    Examples
    --------
    >>> decode_error_message("q.csv", "utf-8", lineno=2, raw="猫 飼い方".encode("cp932"))
    'q.csv:2: not valid UTF-8; it looks like Shift-JIS: pass --encoding cp932'
    >>> decode_error_message("q.csv", "utf-8", lineno=3, raw=b"\\xff\\xfe\\xfa")
    'q.csv:3: not valid UTF-8; pass --encoding with the encoding the file was saved in (e.g. cp932, cp949)'
    """
    if path is not None:
        lineno, raw = _first_bad_line(path, python_encoding(encoding))
    codec = codecs.lookup(encoding).name
    what = "UTF-8" if codec == "utf-8" else encoding
    where = f"{name}:{lineno}" if lineno else name
    guess = guess_encoding(raw)
    if guess is not None and guess[0] != codec:
        return f"{where}: not valid {what}; it looks like {guess[1]}: pass --encoding {guess[0]}"
    return f"{where}: not valid {what}; pass --encoding with the encoding the file was saved in (e.g. cp932, cp949)"
