"""bfloat16 model passes (``precision``): the same maps as float32's on real photos, passes
that really run in bfloat16, the probability from a float32 pass, and a clear refusal where
the hardware cannot run them natively."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from svhn_xai.cli import run as cli_main
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.errors import ParameterError
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain import precision as precision_module
from svhn_xai.explain.precision import Bfloat16Passes, native_bfloat16
from svhn_xai.explain.stability import rank_agreement
from svhn_xai.model.checkpoint import load_model
from tests.models import random_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn"
NATIVE = native_bfloat16(torch.device("cpu"))
needs_native = pytest.mark.skipif(not NATIVE, reason="this CPU has no native bfloat16")
# every method whose passes take a precision, at budgets that keep the test fast
CHEAP = {
    "feature_ablation": {},
    "occlusion": {"stride": 8},
    "feature_permutation": {},
    "shapley_value_sampling": {"n_samples": 4, "seed": 1},
    "lime": {"n_samples": 128, "seed": 1},
    "kernel_shap": {"n_samples": 128, "seed": 1},
    "rise": {"n_masks": 256, "seed": 1},
}


@pytest.fixture(scope="module")
def photos():
    """The shipped model and two real photos as it sees them, each with its first digit."""
    model, card = load_model()
    source = open_source("svhn", "train", FIXTURES)
    items = [to_model_input(source[i], model.input_size, card["config"]["margin"]).item
             for i in (0, 3)]  # fmt: skip
    return model, [(item.image, item.labels[0]) for item in items]


def test_every_method_that_only_reads_outputs_takes_a_precision():
    takes = {k for k, spec in REGISTRY.items() if spec.takes("precision")}
    assert takes == set(CHEAP)


@needs_native
@pytest.mark.parametrize("method", list(CHEAP))
def test_a_bfloat16_map_is_the_float32_map(photos, method):
    """The same draws, passes in bfloat16: the map ranks the pixels as float32's does, and it
    is not float32's bit for bit (the passes did run in bfloat16)."""
    model, pairs = photos
    for image, digit in pairs:
        single = explain(model, image, digit, method, **CHEAP[method])
        half = explain(model, image, digit, method, precision="bfloat16", **CHEAP[method])
        assert rank_agreement(single.attribution, half.attribution) >= 0.98
        assert not np.array_equal(single.attribution, half.attribution)
        assert half.probability == single.probability, "read from a float32 pass"
        assert half.model_passes <= single.model_passes + 1


def test_bfloat16_passes_round_only_without_autograd():
    conv = torch.nn.Conv2d(3, 4, 3)
    seen = []
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    net = Bfloat16Passes(conv)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        out = net(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    net(x.requires_grad_()).sum().backward()
    assert seen[-1] == torch.float32, "a gradient is never computed from a rounded pass"


def test_bfloat16_is_refused_where_it_cannot_run_natively(monkeypatch, capsys):
    model = random_model(0)
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ParameterError, match="float32 model"):
        explain(random_model(0).double(), image, 1, "occlusion", precision="bfloat16")
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: False)
    with pytest.raises(ParameterError, match="no native bfloat16"):
        explain(model, image, 1, "rise", precision="bfloat16", n_masks=8)
    assert explain(model, image, 1, "rise", n_masks=8).attribution.shape == (3, 64, 64)
    code = cli_main(["evaluate", "--limit", "1", "--methods", "rise", "--sanity", "0",
                     "--precision", "bfloat16", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "no native bfloat16" in err and len(err.strip().splitlines()) == 1


@needs_native
def test_evaluate_runs_the_perturbation_methods_in_the_precision_asked(tmp_path):
    out = tmp_path / "ev.json"
    code = cli_main(["evaluate", "--limit", "1", "--methods", "rise,saliency", "--sanity", "0",
                     "--faithfulness", "none", "--precision", "bfloat16", "--json", str(out),
                     "--quiet"])  # fmt: skip
    assert code == 0
    params = json.loads(out.read_text())["method_params"]
    assert params["rise"]["precision"] == "bfloat16" and "precision" not in params["saliency"]
