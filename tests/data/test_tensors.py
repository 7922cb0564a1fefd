import numpy as np
import pytest
import torch

from svhn_xai.data import tensors
from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.tensors import build_tensors


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SVHN_XAI_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tensors"


def test_cache_is_a_memory_mapped_npy_identical_to_the_in_memory_build(cache, monkeypatch):
    monkeypatch.setattr(tensors, "_CHUNK", 4)  # 3 jobs of at most 4 images
    source = SyntheticHouseNumbers(10, seed=3)
    plain = build_tensors(source, size=24, jitter=0.1, workers=1, progress=False)
    assert plain.images.shape == (10, 3, 24, 24) and plain.images.dtype == torch.uint8
    first = build_tensors(source, 24, jitter=0.1, workers=2, cache_key={"k": 1}, progress=False)
    (images_file,) = cache.glob("*.images.npy")
    assert not list(cache.glob("*.tmp*"))
    assert images_file.stat().st_size >= 10 * 3 * 24 * 24
    assert np.array_equal(np.load(images_file), plain.images.numpy())
    assert torch.equal(first.images, plain.images) and torch.equal(first.presence, plain.presence)
    # the same item, prepared alone, matches its row: rows are (3, S, S) in index order
    alone = build_tensors([source[7]], size=24, jitter=0.0, workers=1, progress=False)
    again = build_tensors(source, 24, jitter=0.0, workers=1, progress=False)
    assert torch.equal(again.images[7], alone.images[0])


def test_second_call_maps_the_cache_and_never_writes_it_back(cache, monkeypatch):
    source = SyntheticHouseNumbers(6, seed=1)
    first = build_tensors(source, size=16, workers=1, cache_key={"k": 2}, progress=False)
    calls = []
    monkeypatch.setattr(tensors, "to_model_input", lambda *a, **k: calls.append(a))
    second = build_tensors(source, size=16, workers=1, cache_key={"k": 2}, progress=False)
    assert calls == []  # nothing prepared again
    assert torch.equal(second.images, first.images)
    before = second.images[0].clone()
    assert before.any()
    second.images[0].zero_()  # copy-on-write: changes stay in this process
    (images_file,) = cache.glob("*.images.npy")
    assert np.array_equal(np.load(images_file)[0], before.numpy())


def test_damaged_cache_is_rebuilt(cache):
    source = SyntheticHouseNumbers(5, seed=2)
    good = build_tensors(source, size=16, workers=1, cache_key={"k": 3}, progress=False)
    good_images = good.images.clone()  # `good` maps the file that is about to be truncated
    del good
    (images_file,) = cache.glob("*.images.npy")
    images_file.write_bytes(images_file.read_bytes()[:200])  # truncated
    rebuilt = build_tensors(source, size=16, workers=1, cache_key={"k": 3}, progress=False)
    assert torch.equal(rebuilt.images, good_images)


def test_failure_mid_build_leaves_no_cache(cache, monkeypatch):
    source = SyntheticHouseNumbers(5, seed=2)
    real = tensors.to_model_input

    def fail_on_fourth(item, *args, **kwargs):
        if item.name.endswith("/3"):
            raise RuntimeError("disk on fire")
        return real(item, *args, **kwargs)

    monkeypatch.setattr(tensors, "to_model_input", fail_on_fourth)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_tensors(source, size=16, workers=1, cache_key={"k": 4}, progress=False)
    assert not list(cache.glob("*"))
