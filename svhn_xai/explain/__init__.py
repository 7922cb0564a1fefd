"""Attribution methods: one registry, one call, ``explain(model, image, digit, method)``."""

from svhn_xai.explain import cam, gradient, lrp, perturbation, rise  # noqa: F401  (registry)
from svhn_xai.explain.base import Explanation, explain, explain_batch
from svhn_xai.explain.hooks import count_hooks, model_lock
from svhn_xai.explain.registry import FAMILIES, REGISTRY, get_spec, method_name

# list by family (gradient, CAM, perturbation, relevance propagation), each in registration order
for _key in sorted(REGISTRY, key=lambda k: FAMILIES.index(REGISTRY[k].family)):
    REGISTRY[_key] = REGISTRY.pop(_key)

__all__ = [
    "REGISTRY",
    "Explanation",
    "count_hooks",
    "explain",
    "explain_batch",
    "get_spec",
    "method_name",
    "model_lock",
]
