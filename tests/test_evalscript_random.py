"""Random evalscripts (arithmetic, Math, comparisons, ternaries, if/else with early returns,
helpers) translated and run in Node on the same pixels: the outputs must agree."""

from __future__ import annotations

import random

import pytest

from gateway.evalscript import compile_evalscript
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands

pytestmark = needs_node

BANDS = ("B02", "B04", "B08")
UNARY = ("Math.abs", "Math.sqrt", "Math.floor", "Math.round", "Math.exp", "Math.log", "-")
BINARY = ("+", "-", "*", "/", "%", "**")
COMPARE = ("<", "<=", ">", ">=", "==", "!=")


def _number(rng: random.Random, depth: int, names: list[str]) -> str:
    """A random numeric expression over ``names``."""
    if depth <= 0 or rng.random() < 0.25:
        choice = rng.random()
        if choice < 0.6:
            return rng.choice(names)
        return repr(round(rng.uniform(-2, 2), rng.choice((0, 1, 3))))
    kind = rng.random()
    if kind < 0.4:
        op = rng.choice(BINARY)
        if op == "**":
            exponent = rng.choice(("2", "0.5", "3", "1.5"))
            return f"Math.abs({_number(rng, depth - 1, names)}) ** {exponent}"
        return f"({_number(rng, depth - 1, names)} {op} {_number(rng, depth - 1, names)})"
    if kind < 0.6:
        fn = rng.choice(UNARY)
        return f"{fn}({_number(rng, depth - 1, names)})"
    if kind < 0.75:
        fn = rng.choice(("Math.min", "Math.max", "index", "Math.atan2"))
        return f"{fn}({_number(rng, depth - 1, names)}, {_number(rng, depth - 1, names)})"
    if kind < 0.9:
        return (
            f"({_condition(rng, depth - 1, names)} ? {_number(rng, depth - 1, names)} "
            f": {_number(rng, depth - 1, names)})"
        )
    return f"valueInterpolate({_number(rng, depth - 1, names)}, [-1, 0, 0.5, 2], [3, -1, 0.25, 7])"


def _condition(rng: random.Random, depth: int, names: list[str]) -> str:
    test = (
        f"{_number(rng, depth - 1, names)} {rng.choice(COMPARE)} {_number(rng, depth - 1, names)}"
    )
    if rng.random() < 0.3:
        other = f"{_number(rng, 0, names)} {rng.choice(COMPARE)} {_number(rng, 0, names)}"
        return f"({test} {rng.choice(('&&', '||'))} {other})"
    return f"({test})"


def _script(seed: int) -> str:
    rng = random.Random(seed)
    names = [f"s.{b}" for b in BANDS]
    lines = []
    for i in range(rng.randint(1, 4)):
        lines.append(f"  let v{i} = {_number(rng, 3, names)};")
        names.append(f"v{i}")
        if rng.random() < 0.4:
            lines.append(f"  if {_condition(rng, 2, names)} v{i} = {_number(rng, 2, names)};")
        if rng.random() < 0.3:
            lines.append(
                f"  if {_condition(rng, 2, names)} return [{_number(rng, 2, names)}, 0.5];"
            )
    lines.append(f"  return [{_number(rng, 3, names)}, {_number(rng, 2, names)}];")
    body = "\n".join(lines)
    return f"""//VERSION=3
function setup() {{
  return {{
    input: {list(BANDS)!r},
    output: [{{ id: "default", bands: 2, sampleType: "FLOAT32" }}]
  }};
}}
function evaluatePixel(s) {{
{body}
}}"""


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("sample_type", ["FLOAT32", "AUTO"])
def test_random_script_matches_node(seed: int, sample_type: str) -> None:
    """Found: numexpr's lost -0.0 literals, Math.round's -0, % as Python's remainder."""
    script = _script(seed).replace('"FLOAT32"', f'"{sample_type}"')
    compile_evalscript(script)
    bands, valid = sample_bands(BANDS, shape=(16, 16), seed=seed, high=1.5)
    assert_matches_node(script, bands, valid)
