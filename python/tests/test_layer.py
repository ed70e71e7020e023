"""gradfuzz.check_layer on a CS231n-style layer set written here, independently of gradfuzz:
each right layer passes in a few lines, and each classic bug is caught with the argument
named."""
import numpy as np
import pytest

import gradfuzz


def affine_forward(x, w, b):
    out = x @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out


def sigmoid_backward(dout, out):
    return dout * out * (1 - out)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, out):
    return dout * (1 - out * out)


@pytest.mark.parametrize(
    "gate, forward, backward",
    [
        ("affine", affine_forward, affine_backward),
        ("relu", relu_forward, relu_backward),
        ("sigmoid", sigmoid_forward, sigmoid_backward),
        ("tanh", tanh_forward, tanh_backward),
    ],
)
@pytest.mark.parametrize("values", ["normal", "wide", "extreme"])
def test_each_right_layer_passes_in_every_value_mode(gate, forward, backward, values):
    report = gradfuzz.assert_layer(gate, forward, backward, trials=40, seed=3, values=values)
    assert report.passed and report.report.graphs == 40


def test_a_layer_passes_in_f32_too():
    report = gradfuzz.check_layer(
        "affine", affine_forward, affine_backward, trials=30, seed=1, precision="f32"
    )
    assert report.passed, report


def test_a_bias_gradient_not_summed_over_the_batch_is_caught_on_b():
    def first_row_only(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, dout[0]

    report = gradfuzz.check_layer("affine", affine_forward, first_row_only, trials=30, seed=2)
    assert not report.passed
    assert report.entries and all(e.label.startswith("b[") for e in report.entries), report
    # The smallest failing trial has a batch of two or more rows: one row sums to itself.
    assert report.smallest["x"][0] >= 2, report


def test_dx_without_the_transpose_is_caught_naming_the_function_or_x():
    def no_transpose(dout, cache):
        x, w, _ = cache
        return dout @ w, x.T @ dout, dout.sum(axis=0)

    report = gradfuzz.check_layer("affine", affine_forward, no_transpose, trials=30, seed=2)
    assert not report.passed
    if report.error is not None:
        # Where w is not square the product has no shape: the error names the function and
        # the arguments' shapes.
        assert "no_transpose raised" in report.error and "w (" in report.error, report.error
    else:
        assert all(e.label.startswith("x[") for e in report.entries), report


def test_relus_mask_from_the_output_taken_as_out_at_least_zero_is_caught_on_x():
    def mask_from_output(dout, x):
        out = np.maximum(x, 0)
        return dout * (out >= 0)

    report = gradfuzz.check_layer("relu", relu_forward, mask_from_output, trials=20, seed=2)
    assert not report.passed
    assert all(e.label.startswith("x[") for e in report.entries), report
    # Any negative entry shows it: nearly every trial fails, and the smallest is reported.
    assert report.failing_trials >= 15 and report.smallest["x"] == report.smallest["out"], report


def test_relu_at_exactly_zero_passes_with_either_slope():
    def slope_one_at_zero(dout, x):
        return dout * (x >= 0)

    report = gradfuzz.check_layer(
        "relu", relu_forward, slope_one_at_zero, trials=40, seed=5, values="extreme"
    )
    assert report.passed, report


def test_a_wrong_forward_is_a_forward_mismatch():
    def forward_without_bias(x, w, b):
        return x @ w, (x, w, b)

    report = gradfuzz.check_layer("affine", forward_without_bias, affine_backward, trials=10)
    assert not report.passed
    assert any(f.loss_mismatch for f in report.report.failures), report.report


def test_a_gradient_of_the_wrong_shape_names_the_argument_and_the_shape():
    def db_not_reduced(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, dout

    report = gradfuzz.check_layer("affine", affine_forward, db_not_reduced, trials=5)
    assert not report.passed and report.error is not None
    assert "db of shape" in report.error and "the shape of b" in report.error, report.error


def test_an_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="affine"):
        gradfuzz.check_layer("softmax_xent", affine_forward, affine_backward)


def test_a_notebook_shows_the_failing_entries_as_a_table():
    def first_row_only(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, dout[0]

    report = gradfuzz.check_layer("affine", affine_forward, first_row_only, trials=10, seed=2)
    page = report._repr_html_()
    assert "<table>" in page and "<td>b[0]</td>" in page and "smallest failing" in page, page
    # gradfuzz's own report of the trials renders too: each failing case, blame, shrunk case.
    whole = report.report._repr_html_()
    assert whole.count("<table>") == len(report.report.failures[:10]) > 0, whole
    assert "expected pass" in whole
    passing = gradfuzz.check_layer("affine", affine_forward, affine_backward, trials=3)
    assert "all pass" in passing._repr_html_() and "<table>" not in passing._repr_html_()


def test_an_entry_whose_tolerance_is_below_the_error_by_more_than_any_ratio_prints_inf():
    # The JSON report carries an infinite ratio as null; the text line said "None" (and
    # formatting it raised TypeError) before.
    def mask_from_output(dout, x):
        return dout * (np.maximum(x, 0) >= 0)

    report = gradfuzz.check_layer("relu", relu_forward, mask_from_output, trials=20, seed=2)
    lines = [e.line() for f in report.report.failures for e in f.entries]
    assert any(e.ratio is None for f in report.report.failures for e in f.entries)
    assert all("None" not in line for line in lines), lines
    assert any("= inf ×" in line for line in lines), lines
