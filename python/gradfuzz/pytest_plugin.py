"""gradfuzz's pytest plugin (registered by the package; ``-p gradfuzz.pytest_plugin`` loads it
from a source tree): the ``gradfuzz`` fixture and the flags that size every check made
through it, so a suite's gradient checks run short by default and long on request::

    def test_my_backward(gradfuzz):
        gradfuzz.assert_backward(my_backward)          # the suite's --gradfuzz-graphs graphs

    pytest --gradfuzz-graphs 20000 --gradfuzz-seed 7 --gradfuzz-values extreme

``--gradfuzz-graphs N`` is the number of graphs of ``check``/``assert_backward`` (networks of
a ``network=`` template too) and the trials of ``check_layer``/``assert_layer``; a test's own
``graphs=``/``trials=`` wins over it. Without the flags every function keeps its defaults."""
import argparse
from typing import Callable, Optional

import pytest

from ._check import assert_backward, check
from ._layer import assert_layer, check_layer

VALUE_MODES = ("normal", "wide", "extreme")


def _at_least_one(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number ≥ 1")
    return number


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None


def pytest_addoption(parser) -> None:
    group = parser.getgroup("gradfuzz", "gradient checks through the gradfuzz fixture")
    group.addoption(
        "--gradfuzz-graphs",
        metavar="N",
        default=None,
        type=_at_least_one,
        help="graphs (layer trials) of every check made through the gradfuzz fixture",
    )
    group.addoption(
        "--gradfuzz-seed", metavar="S", default=None, type=_whole, help="their seed"
    )
    group.addoption(
        "--gradfuzz-values",
        metavar="MODE",
        default=None,
        choices=VALUE_MODES,
        help="their value mode: " + ", ".join(VALUE_MODES),
    )


class Checks:
    """What the ``gradfuzz`` fixture gives a test: gradfuzz's check functions with the run's
    ``graphs``, ``seed`` and ``values`` (``None`` where no flag set them) as defaults."""

    def __init__(self, graphs: Optional[int], seed: Optional[int], values: Optional[str]):
        self.graphs, self.seed, self.values = graphs, seed, values

    def _defaults(self, count_name: str, options: dict) -> dict:
        given = {count_name: self.graphs, "seed": self.seed, "values": self.values}
        return {**{k: v for k, v in given.items() if v is not None}, **options}

    def check(self, backward: Callable, **options):
        return check(backward, **self._defaults("graphs", options))

    def assert_backward(self, backward: Callable, **options):
        return assert_backward(backward, **self._defaults("graphs", options))

    def check_layer(self, gate: str, forward: Callable, backward: Callable, **options):
        return check_layer(gate, forward, backward, **self._defaults("trials", options))

    def assert_layer(self, gate: str, forward: Callable, backward: Callable, **options):
        return assert_layer(gate, forward, backward, **self._defaults("trials", options))


@pytest.fixture
def gradfuzz(request) -> Checks:
    """gradfuzz's checks, sized by ``--gradfuzz-graphs``, ``--gradfuzz-seed`` and
    ``--gradfuzz-values``."""
    config = request.config
    return Checks(
        config.getoption("--gradfuzz-graphs"),
        config.getoption("--gradfuzz-seed"),
        config.getoption("--gradfuzz-values"),
    )
