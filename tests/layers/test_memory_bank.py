"""The FIFO ring, against a plain Python deque."""

import collections

import keras
import numpy as np
import pytest
from keras import ops

from keras_supcrd.layers import MemoryBank


@pytest.mark.parametrize("size,batches", [(5, [2, 2, 2]), (4, [3, 6, 1]),
                                          (7, [7, 7]), (3, [1])])
def test_matches_a_deque(size, batches):
    bank = MemoryBank(size)
    bank.build((None, 2))
    ring = collections.deque(maxlen=size)
    start = 0
    for count in batches:
        rows = np.arange(start, start + count, dtype="float32")
        bank.write(np.stack([rows, -rows], 1), rows.astype("int32"))
        ring.extend(rows.tolist())
        start += count
    labels = ops.convert_to_numpy(bank.labels)
    features = ops.convert_to_numpy(bank.features)
    # Sample n lives in slot n mod size; slots never written stay empty.
    expected = np.full(size, -1)
    for n in ring:
        expected[int(n) % size] = n
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(features[:, 0], np.maximum(expected, 0))
    assert int(ops.convert_to_numpy(bank.next_slot)) == start % size


def test_bad_size():
    with pytest.raises(ValueError, match="`size`"):
        MemoryBank(0)


def test_variables_are_non_trainable_and_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        bank = MemoryBank(4)
        bank.build((None, 3))
    finally:
        keras.config.set_dtype_policy("float32")
    assert not bank.trainable_variables
    assert keras.backend.standardize_dtype(bank.features.dtype) == "float32"
