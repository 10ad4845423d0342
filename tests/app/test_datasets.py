"""The Fashion-MNIST loader on small IDX files the tests write."""

import gzip
import os

import numpy as np
import pytest

from idx_files import idx_bytes
from idx_files import write_set
from keras_supcrd.app import datasets

pytestmark = pytest.mark.backend_independent


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Points the Keras cache and the system copy at empty temp folders."""
    home = tmp_path / "keras_home"
    system = tmp_path / "system"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(datasets, "SYSTEM_DIR", str(system))
    monkeypatch.setattr(datasets, "_download", _no_network)
    return {"cache": home / "datasets" / "fashion-mnist", "system": system}


def _no_network():
    raise OSError("no network in tests")


def test_reads_a_good_set(tmp_path, capsys):
    arrays = write_set(str(tmp_path))
    (x, y), (xt, yt), names = datasets.load_fashion_mnist(
        data_dir=str(tmp_path), download=False)
    assert x.dtype == np.uint8 and x.shape == (60, 28, 28)
    np.testing.assert_array_equal(x, arrays["x_train"])
    np.testing.assert_array_equal(yt, arrays["y_test"])
    assert len(names) == 10 and names[0] == "T-shirt/top"
    assert str(tmp_path) in capsys.readouterr().out


def test_keras_cache_comes_before_the_system_copy(places, capsys):
    write_set(str(places["cache"]), n_train=20, seed=1)
    write_set(str(places["system"]), n_train=40, seed=2)
    (x, _), _, _ = datasets.load_fashion_mnist()
    assert len(x) == 20
    assert "Keras cache" in capsys.readouterr().out


def test_system_copy_when_the_cache_is_missing(places, capsys):
    write_set(str(places["system"]), n_train=40)
    (x, _), _, _ = datasets.load_fashion_mnist()
    assert len(x) == 40
    assert "dataset-fashion-mnist" in capsys.readouterr().out


def test_download_is_the_last_resort(places, monkeypatch):
    fake = write_set(str(places["system"]) + "_unused", n_train=10)
    monkeypatch.setattr(datasets, "_download", lambda: fake)
    (x, _), _, _ = datasets.load_fashion_mnist()
    assert len(x) == 10


def test_nothing_found_lists_every_place(places):
    with pytest.raises(FileNotFoundError) as error:
        datasets.load_fashion_mnist()
    message = str(error.value)
    for expected in (str(places["cache"]), str(places["system"]),
                     "Keras download", "apt-get install -y "
                     "dataset-fashion-mnist"):
        assert expected in message


def test_partial_folder_is_skipped(places):
    write_set(str(places["cache"]))
    os.remove(places["cache"] / datasets.FILES["y_test"])
    write_set(str(places["system"]), n_train=40)
    (x, _), _, _ = datasets.load_fashion_mnist()
    assert len(x) == 40


def _rewrite(folder, key, data):
    with gzip.open(os.path.join(folder, datasets.FILES[key]), "wb") as f:
        f.write(data)


def test_truncated_file_is_an_error(tmp_path):
    write_set(str(tmp_path))
    good = idx_bytes(np.zeros((60, 28, 28), np.uint8))
    _rewrite(str(tmp_path), "x_train", good[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        datasets.load_fashion_mnist(data_dir=str(tmp_path), download=False)


def test_truncated_gzip_stream_is_an_error(tmp_path):
    write_set(str(tmp_path))
    path = os.path.join(str(tmp_path), datasets.FILES["y_train"])
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="gzip"):
        datasets.load_fashion_mnist(data_dir=str(tmp_path), download=False)


def test_wrong_magic_number_is_an_error(tmp_path):
    write_set(str(tmp_path))
    bad = idx_bytes(np.zeros((30,), np.uint8))
    _rewrite(str(tmp_path), "y_test", b"\x00\x00\x0d" + bad[3:])
    with pytest.raises(ValueError, match="magic"):
        datasets.load_fashion_mnist(data_dir=str(tmp_path), download=False)


def test_label_count_mismatch_is_an_error(tmp_path):
    write_set(str(tmp_path))
    _rewrite(str(tmp_path), "y_train", idx_bytes(np.zeros(59, np.uint8)))
    with pytest.raises(ValueError, match="labels"):
        datasets.load_fashion_mnist(data_dir=str(tmp_path), download=False)
