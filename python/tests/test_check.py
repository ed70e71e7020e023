"""gradfuzz.check and assert_backward against the examples: the right engines pass, every
planted bug is caught, blamed and shrunk."""
import subprocess
import sys

import numpy as np
import pytest

import batches
import four_gates
import gradfuzz
import two_layer


def test_the_four_gate_engine_passes_ten_thousand_graphs():
    report = gradfuzz.assert_backward(four_gates.make_backward(), graphs=10_000, seed=3)
    assert report.passed and report.graphs == 10_000 and not report.failures
    assert report.summary["scalars"] > 100_000


@pytest.mark.parametrize(
    "bug, blame",
    [
        ("fanout-overwrite", "fan-out at"),
        ("matvec-no-transpose", "the `matvec` rule"),
        ("sigmoid-of-input", "the `sigmoid` rule"),
    ],
)
def test_each_planted_bug_is_caught_blamed_and_shrunk(bug, blame):
    report = gradfuzz.check(four_gates.make_backward(bug), graphs=300, seed=1)
    assert not report.passed and report.status == 1
    first = report.failures[0]
    assert first.entries and first.entries[0].verdict == "mismatch"
    assert blame in first.blame
    assert first.shrunk_nodes <= 6 and "expect: mismatch" in first.shrunk_case
    assert "engine:" not in first.shrunk_case
    with pytest.raises(AssertionError) as raised:
        gradfuzz.assert_backward(four_gates.make_backward(bug), graphs=300, seed=1)
    text = str(raised.value)
    assert "MISMATCH" in text and f"blame: {blame}" in text and "shrunk to" in text


def test_the_four_gate_engine_in_f32_passes_and_a_wrong_precision_is_caught():
    # Leaf values arrive as float32, and the engine computes in float32.
    report = gradfuzz.check(four_gates.make_backward(), graphs=2000, seed=2, precision="f32")
    assert report.passed, report
    # The same float32 engine, claimed to be f64, is held to f64's round-off and fails.
    claimed_f64 = gradfuzz.check(
        lambda g: four_gates.make_backward()(_as_f32(g)), graphs=300, seed=2
    )
    assert not claimed_f64.passed


def test_an_engine_that_flushes_subnormals_is_checked_as_declared():
    # numpy's float32 keeps subnormals; declared f32-ftz it is held to the looser underflow
    # bound, which a gradual-underflow engine meets too.
    report = gradfuzz.check(
        four_gates.make_backward(), graphs=500, seed=2, values="extreme", precision="f32-ftz"
    )
    assert report.passed, report
    with pytest.raises(ValueError, match="f8"):
        gradfuzz.check(four_gates.make_backward(), graphs=1, precision="f8-ftz")


def _as_f32(graph):
    for node in graph.nodes:
        if node.is_leaf:
            node.value = node.value.astype(np.float32)
    return graph


def test_the_two_layer_network_passes_and_its_bugs_are_caught():
    def run(bug=None):
        return gradfuzz.check(
            two_layer.make_backward(bug), network=two_layer.TWO_LAYER, sizes=two_layer.SIZES,
            graphs=200, seed=5,
        )

    report = run()
    assert report.passed and report.summary["cases"] == 200, report
    report = run("update-direction")
    assert not report.passed and len(report.failures) == 200
    assert {e.leaf for f in report.failures for e in f.entries} == {"W1"}
    report = run("no-output-slope")
    assert not report.passed
    assert "W2" in {e.leaf for f in report.failures for e in f.entries}


def test_a_closure_with_state_is_checked_in_this_process():
    calls = []

    def backward(graph):
        calls.append(len(graph.nodes))
        return four_gates.make_backward()(graph)

    assert gradfuzz.check(backward, graphs=50, seed=4).passed
    assert len(calls) >= 50


def test_an_engine_error_stops_the_run_and_says_which_leaf():
    report = gradfuzz.check(lambda g: {}, graphs=10, seed=0)
    assert report.status == 2 and not report.passed
    assert "no gradient for leaf" in report.stopped, report.stopped
    with pytest.raises(AssertionError, match="no gradient for leaf"):
        gradfuzz.assert_backward(lambda g: {}, graphs=10, seed=0)


def test_a_refused_flag_raises_with_gradfuzz_message():
    with pytest.raises(gradfuzz.GradfuzzError, match="values"):
        gradfuzz.check(four_gates.make_backward(), graphs=10, values="huge")
    with pytest.raises(ValueError, match="precision"):
        gradfuzz.check(four_gates.make_backward(), precision="f8")


def test_python_dash_m_gradfuzz_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "gradfuzz", "fuzz", "--graphs", "100", "--seed", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "result:       PASS" in done.stdout
    done = subprocess.run([sys.executable, "-m", "gradfuzz", "nonsense"], capture_output=True, text=True)
    assert done.returncode == 2 and "nonsense" in done.stderr


def test_the_installed_binary_is_found_next_to_python(monkeypatch):
    import os
    import sysconfig

    if not os.environ.get("GRADFUZZ_TEST_INSTALLED"):
        pytest.skip("runs against an installed wheel (GRADFUZZ_TEST_INSTALLED)")
    monkeypatch.delenv("GRADFUZZ_BINARY", raising=False)
    found = gradfuzz.find_binary()
    assert os.path.dirname(found) == sysconfig.get_path("scripts"), found
    done = subprocess.run([found, "engines"], capture_output=True, text=True)
    assert done.returncode == 0 and "reference" in done.stdout


def test_an_engine_declaring_its_gates_is_checked_on_batches_of_every_gate():
    report = gradfuzz.check(batches.make_backward(), graphs=2000, seed=4, gates=batches.GATES)
    assert report.passed, report
    assert report.run["gates"] == "all" and report.run["max_batch"] == 8
    # Declared as a list, in f32 on wide values, it passes too.
    single = gradfuzz.check(
        lambda graph: batches.make_backward()(graph),
        graphs=500,
        seed=4,
        gates=batches.GATES.split(","),
        precision="f32",
        values="wide",
    )
    assert single.passed, single
    # Undeclared, an engine is asked only about the four gates on vectors.
    lecture = gradfuzz.check(batches.make_backward(), graphs=200, seed=4)
    assert lecture.passed and lecture.run["gates"] == "lecture"


@pytest.mark.parametrize(
    "bug, blame",
    [
        ("bias-first-row", "the `add` rule"),
        ("mse-no-divide", "the `mse` rule"),
        ("mul-self", "the `mul` rule"),
        ("matmul-no-transpose", "the `matmul` rule"),
        ("relu-mask-from-upstream", "the `relu` rule"),
    ],
)
def test_each_batch_bug_is_caught_blamed_and_shrunk(bug, blame):
    report = gradfuzz.check(batches.make_backward(bug), graphs=500, seed=1, gates=batches.GATES)
    assert not report.passed and report.status == 1
    first = report.failures[0]
    assert blame in first.blame, first.blame
    assert first.shrunk_nodes <= 6 and "expect: mismatch" in first.shrunk_case
    # In a notebook: a table of entries per failing graph, the blame, the shrunk case.
    page = report._repr_html_()
    assert "<table>" in page and "blame: " + first.blame.split(":")[0] in page, page
