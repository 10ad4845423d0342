"""The teacher cache: keyed by architecture, data content, recipe and seed."""

import dataclasses

import numpy as np
import pytest

from keras_supcrd.app import teacher as teachers


def tiny_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((24, 28, 28, 1), dtype=np.float32)
    return x, (np.arange(24) % 10).astype("int32")


def key(recipe, x, y):
    return teachers.cache_key(recipe, teachers.build(recipe, x.shape[1:], 10),
                              x, y)


@pytest.mark.backend_independent
def test_key_covers_architecture_data_recipe_and_seed():
    x, y = tiny_data()
    recipe = teachers.Recipe(epochs=1, width=4)
    base = key(recipe, x, y)
    assert key(recipe, x.copy(), y.copy()) == base  # content, not identity
    changed_pixel = x.copy()
    changed_pixel[3, 5, 5, 0] += 0.5
    changed_label = y.copy()
    changed_label[0] = 9
    others = [
        key(dataclasses.replace(recipe, width=8), x, y),  # architecture
        key(recipe, changed_pixel, y), key(recipe, x, changed_label),
        key(dataclasses.replace(recipe, epochs=2), x, y),
        key(dataclasses.replace(recipe, learning_rate=1e-3), x, y),
        key(dataclasses.replace(recipe, seed=1), x, y),
    ]
    assert len({base, *others}) == 1 + len(others)


def test_load_or_train_trains_once_and_retrains_on_change(tmp_path, capsys):
    x, y = tiny_data()
    recipe = teachers.Recipe(epochs=1, width=4, batch_size=8)
    first, info = teachers.load_or_train(recipe, x, y, 10, str(tmp_path))
    assert not info["cached"] and info["seconds_per_epoch"] > 0
    again, info = teachers.load_or_train(recipe, x, y, 10, str(tmp_path))
    assert info["cached"]
    assert "Reusing the cached teacher" in capsys.readouterr().out
    np.testing.assert_allclose(again.predict(x, verbose=0),
                               first.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    changed = x.copy()
    changed[0] = 0.0
    _, info = teachers.load_or_train(recipe, changed, y, 10, str(tmp_path))
    assert not info["cached"]
    _, info = teachers.load_or_train(dataclasses.replace(recipe, width=5),
                                     x, y, 10, str(tmp_path))
    assert not info["cached"]
    assert len(list(tmp_path.glob("teacher-*.keras"))) == 3
    assert not list(tmp_path.glob("*.partial*"))


@pytest.mark.backend_independent
def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_SUPCRD_CACHE", str(tmp_path / "a"))
    assert teachers.cache_dir() == str(tmp_path / "a")
    monkeypatch.delenv("KERAS_SUPCRD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert teachers.cache_dir() == str(tmp_path / "xdg" / "keras_supcrd")
