"""Methods run with numpy's and scipy's BLAS on one thread, and leave them as they found them."""

from threadpoolctl import threadpool_info

from svhn_xai.explain import cam, explain
from svhn_xai.explain.blas import one_blas_thread


def _blas_threads() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_one_blas_thread_inside_the_block_and_the_old_counts_after():
    before = _blas_threads()
    assert before  # numpy's OpenBLAS at least
    with one_blas_thread():
        assert set(_blas_threads().values()) == {1}
    assert _blas_threads() == before


def test_eigen_cams_svd_runs_on_one_blas_thread(model, house, monkeypatch):
    seen = []
    first_component = cam.first_component

    def spy(activations):
        seen.append(set(_blas_threads().values()))
        return first_component(activations)

    explain(model, house[0], house[1], "eigen_cam")  # the first CAM imports its library
    monkeypatch.setattr(cam, "first_component", spy)
    explain(model, house[0], house[1], "eigen_cam")
    assert seen == [{1}]  # the library's own BLAS, loaded by the first call, included
