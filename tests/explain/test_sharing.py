"""Passes shared by the copies of an image: known groupings, exact outputs, no lost gradient."""

import pytest
import torch

from svhn_xai.explain import sharing
from svhn_xai.explain.sharing import OncePerDistinctRow, distinct_rows


@pytest.fixture
def rows():
    a, b, c = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    return torch.stack([a, b, a, c, b])


def test_equal_rows_are_grouped_under_their_first(rows):
    first, group = distinct_rows(rows)
    assert first.tolist() == [0, 1, 3]
    assert group.tolist() == [0, 1, 0, 2, 1]
    assert torch.equal(rows[first][group], rows)
    assert distinct_rows(rows[[0, 1, 3]]) is None, "all distinct: nothing to share"


def test_rows_of_any_float_width_and_signed_zeros(rows):
    first, group = distinct_rows(rows.double())
    assert group.tolist() == [0, 1, 0, 2, 1]
    zeros = torch.zeros(2, 5)
    zeros[1, 2] = -0.0  # equal to 0.0, other bits: kept apart, which costs a pass, not a result
    assert distinct_rows(zeros) is None


def test_rows_whose_keys_collide_are_not_shared(rows, monkeypatch):
    monkeypatch.setattr(sharing, "_probe", lambda width, device: torch.zeros(width).long())
    assert distinct_rows(rows) is None, "every key equal: the check must refuse the grouping"
    first, group = distinct_rows(rows[[0, 2]])
    assert first.tolist() == [0] and group.tolist() == [0, 0]


class Counted(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(48, 2)
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        return self.linear(x.flatten(1))


def test_each_distinct_row_runs_once_with_the_same_outputs(rows):
    net = Counted()
    with torch.no_grad():
        whole = net(rows)
        shared = OncePerDistinctRow(net)(rows)
    assert net.sizes == [5, 3]
    torch.testing.assert_close(shared, whole)


def test_under_autograd_every_row_runs_and_gets_its_gradient(rows):
    net = Counted()
    x = rows.clone().requires_grad_(True)
    OncePerDistinctRow(net)(x)[:, 0].sum().backward()
    assert net.sizes == [5]
    expected = net.linear.weight[0].detach().view(3, 4, 4).expand(5, -1, -1, -1)
    torch.testing.assert_close(x.grad, expected)
