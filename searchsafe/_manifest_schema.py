"""The manifest's schema: what a model directory's ``manifest.json`` may say.

The manifest decides how features are built, so it is checked as strictly as
the weights: known keys have fixed types, ranges and values, and anything the
loader acts on must be present. One place holds the rules:

- the parser refuses duplicate keys, ``NaN``/``Infinity``, integers longer
  than :data:`MAX_INT_DIGITS` digits and nesting deeper than :data:`MAX_DEPTH`;
- ``features`` is checked against :class:`~searchsafe._features.FeatureConfig`
  itself: every key must be one of its fields, each value must have the type
  the field is annotated with (``bool`` is not ``int``), backends must be
  known, and :meth:`FeatureConfig.validate` checks ranges and values. A field
  added to FeatureConfig later is accepted (and type-checked) with no change
  here; it must default to the behaviour of models written before it;
- unknown top-level keys are accepted as information (``prevalence``,
  ``training``...), since the parser already made them plain JSON.

Every problem is a :class:`~searchsafe.ModelError` naming the manifest and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from ._errors import InvalidParameterError, ModelError

__all__ = ["parse_manifest", "validate_manifest", "MAX_DEPTH", "MAX_INT_DIGITS"]

#: Deepest nesting of arrays and objects a manifest may have (metrics use 5).
MAX_DEPTH = 32
#: Longest integer literal a manifest may hold; Python would parse 4,300 digits.
MAX_INT_DIGITS = 20
#: Feature keys every format-1 manifest has written; fields FeatureConfig gains
#: later are optional and take their default. This tuple never grows.
FORMAT_1_FEATURES = (
    "char_ngram_min", "char_ngram_max", "char_mode", "choseong_ngram_min", "choseong_ngram_max",
    "morph_bigrams", "hash_bits", "japanese_backend", "korean_backend",
)
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ANNOTATION_TYPES = {"int": int, "str": str, "bool": bool, "float": float}
# Informational keys the loader reads (``info`` prints them): their type is fixed.
_INFO_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "versions": dict, "tokenizers": dict, "training": dict, "metrics": dict,
    "n_weights": int, "sentencepiece": bool,
}


class _Refused(Exception):
    pass


def _no_constant(name: str) -> float:
    raise _Refused(f"{name} is not a number JSON allows")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows a float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"key {key[:80]!r} appears twice in one object")
        out[key] = value
    return out


def _depth(value: Any, limit: int) -> int:
    # Iterative, so a hostile document cannot exhaust the interpreter's stack.
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_manifest(text: str, where: str) -> dict[str, Any]:
    """Parse manifest JSON strictly; *where* names the file in errors.

    Examples
    --------
    >>> parse_manifest('{"format": "searchsafe-model", "format_version": 1}', "m.json")["format_version"]
    1
    >>> parse_manifest('{"a": 1, "a": 2}', "m.json")
    Traceback (most recent call last):
    ...
    searchsafe._errors.ModelError: m.json: not a valid manifest: key 'a' appears twice in one object
    """
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_int=_bounded_int,
                           parse_float=_finite_float, parse_constant=_no_constant)
    except _Refused as exc:
        raise ModelError(f"{where}: not a valid manifest: {exc}") from None
    except RecursionError:
        raise ModelError(f"{where}: not a valid manifest: nested deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise ModelError(f"{where}: not valid JSON ({exc}); the file is truncated or damaged") from None
    if _depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise ModelError(f"{where}: not a valid manifest: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(value, dict):
        raise ModelError(f"{where}: not a searchsafe model manifest (a JSON object is expected)")
    return value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    # JSON true/false must never pass for a number.
    if isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        return bool in kinds
    return isinstance(value, kind)


def _feature_types() -> dict[str, tuple[type, ...] | None]:
    """Each FeatureConfig field's allowed JSON types, from its annotation (None: any, left to validate())."""
    from ._features import FeatureConfig

    types: dict[str, tuple[type, ...] | None] = {}
    for f in dataclasses.fields(FeatureConfig):
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        names = [part.strip() for part in annotation.replace("Optional[", "").rstrip("]").split("|")]
        kinds = [type(None) if n == "None" else _ANNOTATION_TYPES.get(n) for n in names]
        types[f.name] = None if any(k is None for k in kinds) else tuple(kinds)  # type: ignore[misc]
    return types


def _describe(kinds: tuple[type, ...]) -> str:
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def validate_features(features: Any, where: str) -> dict[str, Any]:
    """Check a manifest's ``features`` against FeatureConfig; return the full config as a dict."""
    from ._features import FeatureConfig
    from ._tokenize import JAPANESE_BACKENDS, KOREAN_BACKENDS

    if not isinstance(features, dict):
        raise ModelError(f"{where}: 'features' must be an object; got {_type_name(features)}")
    types = _feature_types()
    for key, value in features.items():
        if key not in types:
            raise ModelError(f"{where}: unknown feature setting {key!r}; this searchsafe knows "
                             f"{', '.join(types)} (a newer searchsafe may have written it)")
        expected = types[key]
        if expected is None:
            continue
        # A float field takes JSON integers too (1 is 1.0); bool never passes for a number.
        allowed = expected + ((int,) if float in expected else ())
        if not _is(value, allowed):
            raise ModelError(f"{where}: features.{key} must be {_describe(expected)}; "
                             f"got {_type_name(value)} {value!r}")
    missing = [k for k in FORMAT_1_FEATURES if k in types and k not in features]
    if missing:
        raise ModelError(f"{where}: features lack {', '.join(missing)}")
    choices = {"japanese_backend": JAPANESE_BACKENDS, "korean_backend": KOREAN_BACKENDS}
    for key, allowed in choices.items():
        if key in features and features[key] not in allowed:
            raise ModelError(f"{where}: features.{key} {features[key]!r} is not one of {', '.join(allowed)}")
    try:
        config = FeatureConfig(**{**FeatureConfig().to_dict(), **features})
        config.validate()
    except (InvalidParameterError, TypeError, ValueError) as exc:
        raise ModelError(f"{where}: features: {exc}") from None
    return config.to_dict()


def validate_manifest(manifest: dict[str, Any], where: str, *, format_version: int, directory: str | None = None) -> None:
    """Check every key the loader acts on; *format_version* is the newest this searchsafe reads.

    *where* names the manifest in errors, *directory* the model in the one
    about a newer format.

    Examples
    --------
    >>> validate_manifest({"format": "searchsafe-model", "format_version": True}, "m.json", format_version=1)
    Traceback (most recent call last):
    ...
    searchsafe._errors.ModelError: m.json: format_version must be a positive integer; got bool True
    """
    if manifest.get("format") != "searchsafe-model":
        raise ModelError(f"{where}: not a searchsafe model manifest (no \"format\": \"searchsafe-model\")")
    version = manifest.get("format_version")
    if not _is(version, int) or version < 1:
        raise ModelError(f"{where}: format_version must be a positive integer; got {_type_name(version)} {version!r}")
    if version > format_version:
        raise ModelError(f"{directory or where}: model format {version} is newer than this searchsafe reads "
                         f"(up to {format_version}); upgrade searchsafe to load it")
    for key, kind in _INFO_TYPES.items():
        if key in manifest and not _is(manifest[key], kind):
            raise ModelError(f"{where}: {key!r} must be {getattr(kind, '__name__', kind)}; "
                             f"got {_type_name(manifest[key])}")
    if "n_weights" in manifest and manifest["n_weights"] < 0:
        raise ModelError(f"{where}: n_weights must not be negative")
    categories = manifest.get("categories")
    if not (isinstance(categories, list) and categories
            and all(isinstance(c, str) and 0 < len(c) <= 64 and c.isprintable() for c in categories)):
        raise ModelError(f"{where}: categories must be a non-empty list of names (printable, at most 64 characters)")
    if len(set(categories)) != len(categories):
        dup = next(c for c in categories if categories.count(c) > 1)
        raise ModelError(f"{where}: category {dup!r} is listed twice")
    thresholds = manifest.get("thresholds")
    if not isinstance(thresholds, dict):
        raise ModelError(f"{where}: 'thresholds' must be an object of category: number; got {_type_name(thresholds)}")
    if set(thresholds) != set(categories):
        raise ModelError(f"{where}: thresholds must name exactly the categories {', '.join(categories)}")
    for c, t in thresholds.items():
        if not _is(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise ModelError(f"{where}: thresholds.{c} must be a number from 0 to 1; got {t!r}")
    if "features" not in manifest:
        raise ModelError(f"{where}: no 'features'; the manifest is incomplete")
    validate_features(manifest["features"], where)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ModelError(f"{where}: 'files' must be an object of file name: sha256; got {_type_name(files)}")
    if "weights.npz" not in files:
        raise ModelError(f"{where}: lists no hash for weights.npz")
    for name, digest in files.items():
        if not _FILE_NAME.fullmatch(name) or name == "manifest.json":
            raise ModelError(f"{where}: bad file name {name!r} in 'files'")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ModelError(f"{where}: files.{name} must be a sha256 of 64 lowercase hex digits")
    uses_lexicon = manifest["features"].get("lexicon") is True  # a dict: validate_features passed
    if uses_lexicon != ("lexicon.tsv" in files):
        raise ModelError(f"{where}: features.lexicon is {uses_lexicon} but 'files' "
                         + ("lists no lexicon.tsv" if uses_lexicon else "lists a lexicon.tsv"))
    if uses_sentencepiece(manifest) and "sentencepiece.model" not in files:
        raise ModelError(f"{where}: the features use sentencepiece pieces but 'files' lists no sentencepiece.model")
    if manifest.get("sentencepiece") is False and "sentencepiece.model" in files:
        raise ModelError(f"{where}: says sentencepiece is unused but lists sentencepiece.model")


def uses_sentencepiece(manifest: dict[str, Any]) -> bool:
    """Whether the model's features include sentencepiece pieces.

    Manifests say so in ``sentencepiece``; older ones through the training
    vocabulary size they record.
    """
    if "sentencepiece" in manifest:
        return bool(manifest["sentencepiece"])
    training = manifest.get("training")
    estimator = training.get("estimator") if isinstance(training, dict) else None
    size = estimator.get("sentencepiece_vocab_size") if isinstance(estimator, dict) else None
    return _is(size, int) and size > 0
