"""Band math: values against numpy, nodata, float32 all the way, and the allowlist."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numexpr
import numpy as np
import pytest

from gateway.config import load_config
from gateway.core.bandmath import _program, parse_expression
from gateway.errors import InvalidParameterValue, LimitExceeded

# The index library of the default configuration (one source of truth).
INDICES = {
    layer.name: layer.expression
    for layer in load_config().layers
    if layer.collection == "sentinel-2-l2a"
}

S2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL")
SHAPE = (48, 64)
Bands = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def bands() -> Bands:
    """Plausible L2A reflectance (no denominator near 0) and SCL classes 0..11."""
    rng = np.random.default_rng(42)
    out = {name: rng.uniform(0.01, 0.2, SHAPE).astype(np.float32) for name in S2}
    out["B08"] = rng.uniform(0.3, 0.6, SHAPE).astype(np.float32)
    out["B02"] = rng.uniform(0.01, 0.1, SHAPE).astype(np.float32)
    out["SCL"] = rng.integers(0, 12, SHAPE).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def valid() -> np.ndarray:
    return np.ones(SHAPE, dtype=bool)


def f64(b: Bands, name: str) -> np.ndarray:
    return b[name].astype(np.float64)


REFERENCES: list[tuple[str, Callable[[Bands], np.ndarray]]] = [
    ("(B08-B04)/(B08+B04)", lambda b: (f64(b, "B08") - b["B04"]) / (f64(b, "B08") + b["B04"])),
    (
        "2.5*(B08-B04)/(B08+6*B04-7.5*B02+1)",
        lambda b: 2.5 * (f64(b, "B08") - b["B04"]) / (b["B08"] + 6 * b["B04"] - 7.5 * b["B02"] + 1),
    ),
    (
        "tanh(((B08-B04)/(B08+B04))**2)",
        lambda b: np.tanh(((f64(b, "B08") - b["B04"]) / (f64(b, "B08") + b["B04"])) ** 2),
    ),
    ("where(SCL==9, 0, B04)", lambda b: np.where(b["SCL"] == 9, 0, f64(b, "B04"))),
    ("B04 > 0.1", lambda b: (b["B04"] > np.float32(0.1)).astype(np.float64)),
    ("B04 <= B03", lambda b: (b["B04"] <= b["B03"]).astype(np.float64)),
    ("SCL != 4", lambda b: (b["SCL"] != 4).astype(np.float64)),
    ("0.05 < B04 < 0.1", lambda b: ((b["B04"] > 0.05) & (b["B04"] < np.float32(0.1))) * 1.0),
    (
        "(B04 > 0.1) & (B03 < 0.1) | (SCL == 8)",
        lambda b: (
            ((b["B04"] > np.float32(0.1)) & (b["B03"] < np.float32(0.1)) | (b["SCL"] == 8)) * 1.0
        ),
    ),
    (
        "B04 > 0.1 and not B03 >= 0.1",
        lambda b: ((b["B04"] > np.float32(0.1)) & ~(b["B03"] >= np.float32(0.1))) * 1.0,
    ),
    ("(B04 > 0.1) * B08", lambda b: (b["B04"] > np.float32(0.1)) * f64(b, "B08")),
    ("where(B04 - B04, 1, 2)", lambda b: np.full(SHAPE, 2.0)),
    (
        "-B04 ** 2 + B03 ** -1 + B02 ** 0.5 + B05 ** 1.7",
        lambda b: (
            -(f64(b, "B04") ** 2)
            + 1 / f64(b, "B03")
            + np.sqrt(f64(b, "B02"))
            + f64(b, "B05") ** 1.7
        ),
    ),
    ("2 ** B04 % 0.3", lambda b: (2 ** f64(b, "B04")) % 0.3),
    (
        "arctan2(B04, B03) + log10(B02) - abs(B05 - B06)",
        lambda b: (
            np.arctan2(f64(b, "B04"), b["B03"])
            + np.log10(f64(b, "B02"))
            - abs(f64(b, "B05") - b["B06"])
        ),
    ),
    ("1 / 2 * B04 + 3", lambda b: 0.5 * f64(b, "B04") + 3),
]


@pytest.mark.parametrize(("text", "reference"), REFERENCES, ids=[r[0] for r in REFERENCES])
def test_values_match_numpy(text: str, reference, bands: Bands, valid: np.ndarray) -> None:
    data, ok = parse_expression(text, S2).evaluate(bands, valid)
    assert data.dtype == np.float32
    assert data.shape == (1, *SHAPE)
    assert ok.all()
    np.testing.assert_allclose(data[0], reference(bands), rtol=2e-6, atol=1e-6)


def test_multiple_outputs(bands: Bands, valid: np.ndarray) -> None:
    expression = parse_expression("B04;B03;B02", S2)
    assert expression.outputs == ("B04", "B03", "B02")
    assert expression.bands == ("B02", "B03", "B04")
    data, ok = expression.evaluate(bands, valid)
    np.testing.assert_array_equal(data, np.stack([bands["B04"], bands["B03"], bands["B02"]]))
    assert ok.all()


def test_constant_output_fills_the_grid(bands: Bands, valid: np.ndarray) -> None:
    data, _ = parse_expression("B04; 2 * 3", S2).evaluate(bands, valid)
    assert (data[1] == 6).all()


def test_nothing_valid_is_all_no_data_without_computing(bands: Bands, monkeypatch) -> None:
    """A grid with no valid input (an empty tile of a zoomed-out map) is no data everywhere,
    as computing it gives, and numexpr is not asked to compute it."""
    expression = parse_expression("B04; 2 * 3; B03 / B02", S2)
    one = np.zeros(SHAPE, dtype=bool)
    one[0, 0] = True
    computed, computed_ok = expression.evaluate(bands, one)
    assert computed_ok.sum() == 1 and np.isfinite(computed[:, 0, 0]).all()

    def refuse(*_args: object) -> None:
        raise AssertionError("numexpr was asked to compute a grid with nothing valid")

    monkeypatch.setattr("gateway.core.bandmath._program", refuse)
    data, ok = expression.evaluate(bands, np.zeros(SHAPE, dtype=bool))
    assert data.dtype == np.float32 and data.shape == (3, *SHAPE)
    assert not ok.any() and np.isnan(data).all()
    computed[:, 0, 0] = np.nan  # what computing gives, once the one valid pixel is not
    np.testing.assert_array_equal(data, computed)


def test_normalised_text_and_band_spelling() -> None:
    expression = parse_expression("  (b08 - b04) / (B08+b04) ", S2)
    assert expression.source == "(b08 - b04) / (B08+b04)"
    assert expression.outputs == ("(B08 - B04) / (B08 + B04)",)
    assert expression.bands == ("B04", "B08")
    assert parse_expression("b8a", S2).bands == ("B8A",)
    assert parse_expression("0 < B04 < 0.2", S2).outputs == (
        "where((0 < B04) & (B04 < 0.2), 1, 0)",
    )


def test_ambiguous_case_needs_the_exact_spelling() -> None:
    assert parse_expression("red + RED", ["red", "RED"]).bands == ("RED", "red")
    with pytest.raises(InvalidParameterValue, match="Unknown band 'Red'"):
        parse_expression("Red", ["red", "RED"])


def test_division_by_zero_and_domain_errors_are_nodata(valid: np.ndarray) -> None:
    b04 = np.full(SHAPE, 0.2, dtype=np.float32)
    b04[0, :5] = 0.0
    b03 = np.full(SHAPE, 0.1, dtype=np.float32)
    b03[0, :2] = 0.0  # 0 / 0
    b03[1, 0] = -1.0  # log of a negative number
    expression = parse_expression("B03 / B04; log(B03)", S2)
    data, ok = expression.evaluate({"B03": b03, "B04": b04}, valid)
    bad = np.zeros(SHAPE, dtype=bool)
    bad[0, :5] = bad[1, 0] = True
    np.testing.assert_array_equal(ok, ~bad)
    assert np.isnan(data[:, bad]).all()
    assert np.isfinite(data[:, ~bad]).all()
    assert not np.isinf(data).any()


def test_invalid_inputs_propagate(bands: Bands) -> None:
    mask = np.ones(SHAPE, dtype=bool)
    mask[10:20, 5:7] = False
    before = mask.copy()
    data, ok = parse_expression("(B08-B04)/(B08+B04); B02", S2).evaluate(bands, mask)
    np.testing.assert_array_equal(ok, mask)
    assert np.isnan(data[:, ~mask]).all()
    np.testing.assert_array_equal(mask, before)  # the caller's mask is untouched


def test_float64_inputs_give_float32(bands: Bands, valid: np.ndarray) -> None:
    doubles = {k: v.astype(np.float64) for k, v in bands.items()}
    data, _ = parse_expression("B04 * 0.5", S2).evaluate(doubles, valid)
    assert data.dtype == np.float32


def _double_typed(program: numexpr.NumExpr) -> bool:
    """Whether a compiled program has any float64 ('d') operand, constant or temporary."""
    return b"d" in program.fullsig


def test_plain_numexpr_would_upcast() -> None:
    """The check below means something: a Python float constant makes numexpr use float64."""
    assert _double_typed(numexpr.NumExpr("2.5 * a", [("a", float)]))


@pytest.mark.parametrize(
    "text",
    [
        *INDICES.values(),
        "B04 ** 2.7 + B04 ** -3 + 10 ** B04 + B04 ** 0.5",
        "where(B04 > 0.1, 0.25, B03 / 7.5)",
        "(B04 > 0.1) & ~(B03 < 0.2) | (B02 >= 1e-3)",
        "sqrt(abs(B04 - 0.1)) * exp(-B03) + floor(B02 * 10) / 10",
    ],
)
def test_evaluation_stays_float32(text: str, bands: Bands, valid: np.ndarray) -> None:
    expression = parse_expression(text, S2)
    for source, names in expression._programs:
        assert not _double_typed(_program(source, names)), source
    data, _ = expression.evaluate(bands, valid)
    assert data.dtype == np.float32


def test_compiled_once_per_thread() -> None:
    first = parse_expression("(B08-B04)/(B08+B04)", S2)
    assert parse_expression("(B08-B04)/(B08+B04)", S2) is first
    source, names = first._programs[0]
    assert _program(source, names) is _program(source, names)


def test_concurrent_evaluation(bands: Bands, valid: np.ndarray) -> None:
    """One numexpr program object shared by threads crashes; ours are per thread."""
    expression = parse_expression(INDICES["KNDVI"] + ";" + INDICES["EVI"], S2)
    big = {k: np.tile(v, (4, 4)) for k, v in bands.items()}
    mask = np.tile(valid, (4, 4))
    expected, _ = expression.evaluate(big, mask)
    failures: list[str] = []
    threads_before = numexpr.set_num_threads(1)
    try:

        def work() -> None:
            for _ in range(20):
                data, _ = expression.evaluate(big, mask)
                if not np.array_equal(data, expected, equal_nan=True):
                    failures.append("mismatch")

        workers = [threading.Thread(target=work) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        numexpr.set_num_threads(threads_before)
    assert not failures


def _numpy_value(text: str, bands: Bands) -> np.ndarray:
    """An index of the library computed by numpy in float64 (one output)."""
    names = {name: f64(bands, name) for name in S2}
    functions = {"tanh": np.tanh, "sqrt": np.sqrt, "where": np.where, "abs": np.abs}
    return eval(text, {"__builtins__": {}}, {**functions, **names})  # the library's own text


@pytest.mark.parametrize("name", sorted(INDICES))
def test_index_library_evaluates_as_numpy_does(name: str, bands: Bands, valid) -> None:
    expression = parse_expression(INDICES[name], S2)
    outputs = [part for part in INDICES[name].split(";") if part.strip()]
    assert len(expression.outputs) == len(outputs)
    data, mask = expression.evaluate({b: bands[b] for b in expression.bands}, valid)
    assert data.shape == (len(outputs), *SHAPE) and data.dtype == np.float32
    for index, part in enumerate(outputs):
        expected = _numpy_value(part, bands)
        assert np.allclose(data[index][mask], expected[mask], rtol=1e-5, atol=1e-6), name


CANARY = "{canary}"  # replaced by a file in the test's own folder

ATTACKS = [
    "__import__('os')",
    f"__import__('os').system('touch {CANARY}')",
    f"open('{CANARY}', 'w')",
    "B04.__class__",
    "B04.__class__.__mro__[1].__subclasses__()",
    "(lambda: 1)()",
    "B04[0]",
    "'a'",
    "B99",
    "os",
    "open",
    "eval('1')",
    "exec",
    "B04 **** 2",
    "(B04",
    "B04 if B03 else B02",
    "sin(B04, B03)",
    "where(B04 > 0, B04)",
    "sin(x=B04)",
    "sin(*B04)",
    "[B04, B03]",
    "{B04: 1}",
    "[x for x in B04]",
    "(y := B04)",
    "f'{B04}'",
    "1j * B04",
    "None",
    "True",
    "B04 // 2",
    "B04 @ B03",
    "B04 ^ B03",
    "B04 << 2",
    "B04 in B03",
    "B04 is B03",
    "B04 & B03",
    "~B04",
    "9**9**9",
    "B04 * 9**9**9",
    "B04 * (1/0)",
    "B04 * 1e39",
    "B04 * " + "9" * 500,
    "arccosh(0.5) + B04",
    "B04\x00",
    "B\u00d804",
    "B04;",
    "B04;;B03",
    ";",
    "",
    "   ",
    "sin(B04)(1)",
    "B04()",
    "yield B04",
    "await B04",
]


def _echoes(message: str, text: str, limit: int = 40) -> bool:
    """Whether message repeats more than ``limit`` consecutive characters of text."""
    n = limit + 1
    return any(text[i : i + n] in message for i in range(len(text) - n + 1))


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_refused_with_a_safe_message_and_never_run(attack: str, tmp_path) -> None:
    canary = tmp_path / "canary"
    text = attack.replace(CANARY, str(canary))
    if text == "B04;":  # a trailing ';' is tolerated
        assert parse_expression(text, S2).outputs == ("B04",)
        return
    with pytest.raises(InvalidParameterValue) as caught:
        parse_expression(text, S2)
    error = caught.value
    assert error.locator == "expression"
    assert error.status == 400
    assert "Traceback" not in error.message
    assert "File " not in error.message
    assert not _echoes(error.message, text)
    assert not canary.exists()


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("B99", "'B99'"),
        ("os", "'os'"),
        ("open", "'open'"),
        ("__import__('os')", "'__import__'"),
        ("eval('1')", "'eval'"),
        ("B04 + b13", "'b13'"),
    ],
)
def test_unknown_names_are_named_with_the_valid_bands(text: str, token: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_expression(text, S2)
    message = caught.value.message
    assert token in message
    assert (
        "Valid bands: B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B11, B12, SCL." in message
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B04 **** 2", "Syntax error at position 7"),
        ("B04; B03 +* ", "Syntax error at position 11"),
        ("B04; B99", "Unknown band 'B99' (at position 6)"),
        ("B04.__class__", "Attribute access"),
        ("(lambda: 1)()", "'lambda' is not allowed"),
        ("B04[0]", "Indexing"),
        ("'a'", "string"),
        ("B04 if B03 else B02", "where(condition, a, b)"),
        ("sin(B04, B03)", "sin() takes 1 argument, got 2"),
        ("arctan2(B04)", "arctan2() takes 2 arguments, got 1"),
        ("9**9**9", "not a finite number"),
        ("B04 & B03", "combines conditions"),
    ],
)
def test_messages_say_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_expression(text, S2)
    assert expected in caught.value.message


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        ("B04 + " * 2000 + "B04", {}),  # over 10 000 characters
        ("(" * 100 + "B04" + ")" * 100, {}),
        ("-" * 1000 + "B04", {}),
        ("+".join(["B04"] * 150), {}),
        ("B04;B03;B02;B01;B05", {}),
        ("B04;B03", {"max_outputs": 1}),
        ("B04 + B03", {"max_nodes": 2}),
        ("B04 + B03", {"max_length": 5}),
        ("sin(sin(sin(B04)))", {"max_depth": 3}),
    ],
)
def test_limits(text: str, limits: dict[str, int]) -> None:
    with pytest.raises(LimitExceeded) as caught:
        parse_expression(text, S2, **limits)
    assert not _echoes(caught.value.message, text)


def test_long_names_are_cut_in_messages() -> None:
    name = "x" * 300
    with pytest.raises(InvalidParameterValue) as caught:
        parse_expression(f"B04 + {name}", S2)
    message = caught.value.message
    assert "x" * 37 + "..." in message
    assert "x" * 41 not in message
