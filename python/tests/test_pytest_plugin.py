"""The pytest plugin: a suite's test takes the ``gradfuzz`` fixture, and ``--gradfuzz-graphs``,
``--gradfuzz-seed``, ``--gradfuzz-values`` size every check made through it. Run on test files
written here, in a pytest of their own; from the installed wheel the plugin must load through
its entry point, from a source tree with ``-p``."""
import os

import pytest

SUITE = '''
import numpy as np
import sys
sys.path.insert(0, {examples!r})
import two_layer

def test_lecture_network(gradfuzz):
    report = gradfuzz.assert_backward(
        two_layer.make_backward(), network=two_layer.TWO_LAYER, sizes=two_layer.SIZES
    )
    print("GRAPHS", report.graphs)

def test_relu_layer(gradfuzz):
    report = gradfuzz.assert_layer(
        "relu", lambda x: (np.maximum(x, 0), x), lambda dout, x: dout * (x > 0)
    )
    print("TRIALS", report.report.graphs)

def test_a_test_s_own_count_wins(gradfuzz):
    report = gradfuzz.check(two_layer.make_backward(), network=two_layer.TWO_LAYER, graphs=3)
    print("OWN", report.graphs)

def test_a_wrong_backward_fails(gradfuzz):
    gradfuzz.assert_backward(
        two_layer.make_backward("no-output-slope"), network=two_layer.TWO_LAYER
    )
'''


def _run(pytester, *flags):
    from conftest import EXAMPLES

    pytester.makepyfile(test_suite=SUITE.format(examples=str(EXAMPLES)))
    load = () if os.environ.get("GRADFUZZ_TEST_INSTALLED") else ("-p", "gradfuzz.pytest_plugin")
    return pytester.runpytest_subprocess(*load, "-s", *flags)


def test_the_flags_size_every_check_and_a_wrong_backward_fails_its_test(pytester):
    result = _run(pytester, "--gradfuzz-graphs", "7", "--gradfuzz-seed", "4")
    result.assert_outcomes(passed=3, failed=1)
    output = result.stdout.str()
    assert "GRAPHS 7" in output and "TRIALS 7" in output and "OWN 3" in output, output
    # The failing test's message is gradfuzz's text report, the entry named.
    assert "gradfuzz: the backward function failed" in output and "MISMATCH W2[" in output


def test_without_the_flags_each_function_keeps_its_defaults(pytester):
    result = _run(pytester, "-k", "lecture or relu")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert "GRAPHS 1000" in output and "TRIALS 50" in output, output


@pytest.mark.parametrize(
    "flags, message",
    [
        (("--gradfuzz-graphs", "0"), "--gradfuzz-graphs: '0': expected a whole number ≥ 1"),
        (("--gradfuzz-seed", "x"), "--gradfuzz-seed: 'x': expected a whole number"),
        (("--gradfuzz-values", "huge"), "--gradfuzz-values: invalid choice: 'huge'"),
    ],
)
def test_a_bad_flag_stops_pytest_naming_it(pytester, flags, message):
    result = _run(pytester, *flags)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str(), result.stderr.str()
