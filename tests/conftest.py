import pytest

from tests.models import random_model, write_checkpoint


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Prepared-image caches go to the test's own folder, never to ~/.cache."""
    monkeypatch.setenv("SVHN_XAI_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    """A checkpoint of a ResNet-18 with random weights and non-trivial BatchNorms."""
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "random.pt", random_model(0))
