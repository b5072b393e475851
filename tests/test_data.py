from urllib.error import URLError

import pytest
import torch
import torchvision.datasets.mnist

from gan.data import MNIST_FILES, DataNotFoundError, EpochShuffleSampler, MNISTDataModule


@pytest.fixture(scope="module")
def mnist() -> MNISTDataModule:
    datamodule = MNISTDataModule(batch_size=32, val_size=5000)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def test_split_sizes_and_disjointness(mnist):
    assert (len(mnist.train_set), len(mnist.val_set), len(mnist.test_set)) == (55000, 5000, 10000)
    train_rows = {bytes(img.numpy()) for img in mnist.train_set.images[:2000]}
    assert not any(bytes(img.numpy()) in train_rows for img in mnist.val_set.images[:2000])


def test_split_is_fixed_by_split_seed(mnist):
    again = MNISTDataModule(val_size=5000)
    again.setup()
    assert torch.equal(again.val_set.images, mnist.val_set.images)
    other = MNISTDataModule(val_size=5000, split_seed=7)
    other.setup()
    assert not torch.equal(other.val_set.images, mnist.val_set.images)


def test_batches_are_scaled_to_unit_range(mnist):
    images, labels = next(iter(mnist.train_dataloader()))
    assert images.shape == (32, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() == -1.0 and images.max() == 1.0
    assert labels.shape == (32,) and labels.min() >= 0 and labels.max() <= 9
    # Same values as torchvision's ToTensor + Normalize(0.5, 0.5).
    raw = mnist.test_set.images[0].float() / 255
    assert torch.allclose(mnist.test_set[0][0][0], (raw - 0.5) / 0.5)


def test_train_loader_drops_the_last_partial_batch(mnist):
    assert len(mnist.train_dataloader()) == 55000 // 32


def test_shuffle_order_depends_only_on_seed_and_epoch():
    a, b = EpochShuffleSampler(100, seed=3), EpochShuffleSampler(100, seed=3)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)
    b.set_epoch(2)
    assert list(a) != list(b)
    assert sorted(a) == list(range(100))


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size=0"):
        MNISTDataModule(batch_size=0)


def test_missing_mnist_names_the_folder_and_the_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    datamodule = MNISTDataModule(root=tmp_path)
    with pytest.raises(DataNotFoundError) as error:
        datamodule.prepare_data()
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert all(name in message for name in MNIST_FILES)


def test_loader_options_reach_the_dataloaders():
    datamodule = MNISTDataModule(batch_size=7, num_workers=1, pin_memory=True)
    datamodule.setup()
    for loader in (datamodule.train_dataloader(), datamodule.test_dataloader()):
        assert (loader.batch_size, loader.num_workers, loader.pin_memory) == (7, 1, True)
