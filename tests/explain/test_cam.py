"""The CAM family through pytorch-grad-cam: known answers, hooks, gradients left behind."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from svhn_xai.errors import ParameterError
from svhn_xai.explain import count_hooks, explain
from svhn_xai.explain.cost import estimated_passes

CAMS = ["grad_cam", "grad_cam_plus_plus", "xgrad_cam", "layer_cam", "score_cam", "eigen_cam"]
FAST = {"score_cam": {"layer": "layer2"}}  # one pass per channel: 128 here, 256 at the default


def hand_grad_cam(model, image_tensor, weights, layer="layer3") -> np.ndarray:
    """Grad-CAM by its definition: ReLU(sum_k mean(dS/dA_k) A_k), scaled to [0, 1], upsampled,
    scaled to [0, 1] again (bilinear upsampling need not reach the coarse map's maximum)."""
    stage = getattr(model, layer)
    saved = {}
    handle = stage.register_forward_hook(lambda _m, _a, out: saved.setdefault("a", out))
    try:
        score = model(image_tensor)[0] @ weights
        (grad,) = torch.autograd.grad(score, saved["a"])
    finally:
        handle.remove()
    cam = F.relu((grad.mean((2, 3), keepdim=True) * saved["a"]).sum(1))[0].detach()
    cam = (cam - cam.min()) / (cam.max() - cam.min() + 1e-7)
    side = image_tensor.shape[-1]
    up = F.interpolate(cam[None, None], size=(side, side), mode="bilinear")[0, 0]
    return ((up - up.min()) / (up.max() - up.min() + 1e-7)).numpy()


@pytest.mark.parametrize("contrast", [None, 8])
def test_grad_cam_is_grad_cam(model, image_tensor, contrast):
    weights = torch.zeros(10)
    weights[3] = 1
    if contrast is not None:
        weights[contrast] = -1
    e = explain(model, image_tensor, 3, "grad_cam", contrast=contrast)
    expected = hand_grad_cam(model, image_tensor, weights)
    assert expected.max() > 0, "a map to compare with"
    np.testing.assert_allclose(e.relevance, expected, atol=1e-4)
    assert all(p.grad is None for p in model.parameters()), "gradients left on the model"


@pytest.mark.parametrize("key", CAMS)
def test_every_cam_runs_at_input_size_and_leaves_nothing_behind(model, house, key):
    image, digit, _ = house
    e = explain(model, image, digit, key, **FAST.get(key, {}))
    assert e.attribution.shape == (3, 64, 64)
    assert e.relevance.min() >= 0 and e.relevance.max() <= 1 + 1e-6
    assert e.model_passes == estimated_passes(key, FAST.get(key, {}))
    assert count_hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())


def test_the_layer_parameter_picks_the_stage(model, house):
    image, digit, _ = house
    fine = explain(model, image, digit, "layer_cam", layer="layer1").relevance
    coarse = explain(model, image, digit, "layer_cam", layer="layer4").relevance
    assert not np.allclose(fine, coarse)
    with pytest.raises(ParameterError, match="layer"):
        explain(model, image, digit, "grad_cam", layer="fc")


def test_eigen_cam_draws_the_same_map_for_every_digit(model, house):
    maps = [explain(model, house[0], d, "eigen_cam").relevance for d in (1, 5, 9)]
    np.testing.assert_array_equal(maps[0], maps[1])
    np.testing.assert_array_equal(maps[0], maps[2])


def test_no_hook_survives_a_failing_cam(model, house, monkeypatch):
    def fail(self, output):
        raise RuntimeError("target failed")

    monkeypatch.setattr("svhn_xai.explain.cam._Score.__call__", fail)
    with pytest.raises(RuntimeError, match="target failed"):
        explain(model, house[0], house[1], "grad_cam")
    assert count_hooks(model) == 0
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("key", ["grad_cam", "grad_cam_plus_plus", "xgrad_cam", "layer_cam"])
def test_the_cut_backward_gives_the_librarys_own_map(house, key):
    """The backward stops at the stage with the weights frozen; pytorch-grad-cam's own call,
    whose backward runs through every weight, draws the same map (on the shipped model: the
    random one's Grad-CAM is empty at every stage), and every weight is trainable again."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from svhn_xai.model.checkpoint import load_model

    model, _ = load_model(None)

    classes = {"grad_cam": pgc.GradCAM, "grad_cam_plus_plus": pgc.GradCAMPlusPlus,
               "xgrad_cam": pgc.XGradCAM, "layer_cam": pgc.LayerCAM}  # fmt: skip
    image, digit, _ = house
    drawn = []
    for layer in ("layer2", "layer3", "layer4"):
        ours = explain(model, image, digit, key, layer=layer).attribution.sum(0)
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        with classes[key](model, [getattr(model, layer)]) as cam:
            theirs = cam(x, targets=[ClassifierOutputTarget(model.head(digit))])[0]
        model.zero_grad(set_to_none=True)
        drawn.append(theirs.max() > 0)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert any(drawn), "a map to compare with"
    assert all(p.requires_grad for p in model.parameters())


def test_score_cam_reports_progress(model, house):
    seen = []
    explain(model, house[0], house[1], "score_cam", layer="layer2", progress=seen.append)
    # one report per pass of 64 masked images, of 128 (one per channel at layer2)
    assert seen == [0.5, 1.0]


def test_eigen_cam_is_the_librarys_eigen_cam(model, house):
    """The economy SVD gives pytorch-grad-cam's own map (sign included), on the random test
    model and on the shipped one, whose activations are those of a trained network."""
    import pytorch_grad_cam as pgc

    from svhn_xai.data.synthetic import SyntheticHouseNumbers
    from svhn_xai.data.target import to_model_input
    from svhn_xai.model.checkpoint import load_model

    shipped, _ = load_model(None)
    images = [house[0]] + [to_model_input(SyntheticHouseNumbers(8, 9)[i], 64).item.image
                           for i in range(8)]  # fmt: skip
    for net in (model, shipped):
        for image in images:
            ours = explain(net, image, 3, "eigen_cam").attribution.sum(0)
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            with pgc.EigenCAM(net, [net.layer3]) as cam:
                theirs = cam(x, targets=None)[0]
            np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_score_cam_is_the_librarys_score_cam_and_shares_a_photos_passes(model, house):
    """Our Score-CAM gives pytorch-grad-cam's own maps, each photo of a batch masked once: the
    photo explained for two digits costs the passes of one, each digit its own map."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from svhn_xai.explain import explain_batch

    image = house[0]
    batch = explain_batch(model, [image, image], [3, 5], "score_cam", layer="layer2")
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with pgc.ScoreCAM(model, [model.layer2]) as cam:
        cam.batch_size = 64
        for e, digit in zip(batch, (3, 5)):
            theirs = cam(x, targets=[ClassifierOutputTarget(digit)])[0]
            np.testing.assert_allclose(e.attribution.sum(0), theirs, atol=1e-5)
            assert e.model_passes == (1 + 128) // 2 + 1  # the photo's 128 masks, shared
    assert not np.allclose(batch[0].relevance, batch[1].relevance), "two digits, two maps"
