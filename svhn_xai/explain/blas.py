"""numpy's and scipy's BLAS held to one thread while an explanation runs.

A few methods call BLAS through numpy or scipy on small matrices: Eigen-CAM's SVD (16 x 256
at layer3), LIME's Lasso and KernelShap's least squares on 64 features. OpenBLAS answers
each such call with its own worker threads, which then spin for a while (about 0.1 s)
waiting for more work. On a small CPU they spin on the cores PyTorch's threads are about to
need: on the 2-core machine of ``benchmarks/explainers.py``, a Saliency map that takes 27 ms
took 75 ms right after a 16 x 256 SVD. One thread computes these small products as fast and
leaves the cores to PyTorch. PyTorch's own kernels (oneDNN, its OpenMP pool) are untouched.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_found: tuple[int, ThreadpoolController] | None = None


def _controller() -> ThreadpoolController:
    """The BLAS libraries loaded in the process, found again whenever modules were imported
    since the last look (a lazily imported library, pytorch-grad-cam's OpenCV for one, may
    bring its own): finding them takes ~2 ms, limiting them afterwards ~0.03 ms."""
    global _found
    if _found is None or _found[0] != len(sys.modules):
        _found = (len(sys.modules), ThreadpoolController())
    return _found[1]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Inside the block, every BLAS library loaded in the process when it starts uses one
    thread (one loaded inside the block, by a method's first lazy import, is held from the
    next block on)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
