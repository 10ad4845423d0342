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


def _head():
    """A fixed linear head, (B, 3) -> (B, 2)."""
    head = keras.layers.Dense(2, use_bias=False)
    head.build((None, 3))
    head.set_weights([np.array([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]],
                               "float32")])
    return head


def _filled(mode, width):
    bank = MemoryBank(4, mode)
    bank.build((None, width))
    rows = np.arange(3 * width, dtype="float32").reshape(3, width)
    bank.write(rows, np.array([0, 1, 2]))
    return bank, rows


@pytest.mark.parametrize("mode", ["exact", "exact_no_grad"])
def test_exact_modes_give_the_rows_under_the_current_head(mode):
    bank, rows = _filled(mode, 3)
    head = _head()
    negatives, labels = bank.negatives(head)
    kernel = ops.convert_to_numpy(head.kernel)
    np.testing.assert_allclose(ops.convert_to_numpy(negatives)[:3],
                               rows @ kernel)
    np.testing.assert_array_equal(ops.convert_to_numpy(labels), [0, 1, 2, -1])
    assert not bank.stores_embeddings


@pytest.mark.parametrize("mode,flows", [("exact", True),
                                        ("exact_no_grad", False)])
def test_only_the_exact_mode_trains_the_head_through_the_bank(mode, flows):
    from grad import value_and_grads

    bank, _ = _filled(mode, 3)

    def total(kernel):
        head = lambda x: ops.matmul(x, kernel)  # noqa: E731
        # `0 * kernel` keeps the kernel in the graph when nothing flows.
        return ops.sum(bank.negatives(head)[0], axis=1) + 0.0 * ops.sum(
            kernel)

    _, (grad,) = value_and_grads(total, ops.convert_to_numpy(
        _head().kernel))
    assert np.any(grad != 0) == flows


def test_stored_mode_reads_its_rows_as_they_are():
    bank, rows = _filled("stored", 2)
    negatives, _ = bank.negatives(lambda x: x * 100.0)
    np.testing.assert_array_equal(ops.convert_to_numpy(negatives)[:3], rows)
    assert bank.stores_embeddings


@pytest.mark.parametrize("mode", ["exact", "exact_no_grad", "stored"])
def test_remember_writes_a_non_finite_row_as_an_empty_slot(mode):
    head = _head()
    bank = MemoryBank(4, mode)
    bank.build((None, 2 if mode == "stored" else 3))
    features = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 0.0],
                         [0.5, 0.5, 0.5]], "float32")
    logits = np.array([[0.0, 1.0], [0.0, 1.0], [np.inf, 0.0]], "float32")
    bank.remember(features, logits, np.array([1, 2, 0]), head)
    stored = ops.convert_to_numpy(bank.features)
    np.testing.assert_array_equal(ops.convert_to_numpy(bank.labels),
                                  [1, -1, -1, -1])
    expected = features[0] @ ops.convert_to_numpy(head.kernel) if (
        mode == "stored") else features[0]
    np.testing.assert_allclose(stored[0], expected)
    np.testing.assert_array_equal(stored[1:], 0.0)


def test_bad_mode_names_itself():
    with pytest.raises(ValueError, match="`mode`"):
        MemoryBank(4, "stale")


def test_config_round_trips_the_mode():
    bank = MemoryBank(4, "stored", name="bank")
    clone = MemoryBank.from_config(bank.get_config())
    assert (clone.size, clone.mode) == (4, "stored")
