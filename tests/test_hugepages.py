"""The scoring tables' memory: zeros, the asked shape and type, 2 MB-aligned and advised on Linux."""

from __future__ import annotations

import mmap
import sys

import numpy as np
import pytest

import searchsafe
from searchsafe import _hugepages


@pytest.mark.parametrize(
    "shape, dtype",
    [(0, np.int32), (5, np.int32), ((3, 8), np.float32), (1 << 22, np.int32), ((600_000, 8), np.float32)],
)
def test_zeros_are_zeros_of_the_asked_shape_and_type(shape, dtype) -> None:
    a = _hugepages.zeros(shape, dtype)
    expected = np.zeros(shape, dtype)
    assert a.shape == expected.shape and a.dtype == expected.dtype and a.flags.c_contiguous and a.flags.writeable
    assert not a.any()


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_HUGEPAGE"),
                    reason="huge-page advice is Linux's")
def test_large_tables_start_on_a_2_mb_boundary_and_small_ones_stay_plain() -> None:
    big = _hugepages.zeros(1 << 22, np.int32)
    assert big.ctypes.data % (2 << 20) == 0 and big.base is not None  # a view of the mapping
    small = _hugepages.zeros(1000, np.int32)
    assert small.base is None  # np.zeros owns it


def test_the_classifier_scores_from_its_tables_and_writes_them_only_once() -> None:
    clf = searchsafe.load()
    assert clf._row_of.shape == (1 << clf._extractor.config.hash_bits,)
    assert clf._weights.shape[0] == clf._model.weights.shape[0] + 1 and not clf._weights[0].any()
    np.testing.assert_array_equal(clf._weights[1:], clf._model.weights.astype(np.float32))
    if clf._compiled is not None:  # the compiled path reads the same memory, no copy
        assert np.shares_memory(clf._compiled._row_of, clf._row_of)
        assert np.shares_memory(clf._compiled._weights, clf._weights)
