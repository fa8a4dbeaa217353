"""Random evalscripts (arithmetic, Math, comparisons, ternaries, if/else with early returns,
helpers) translated and run in Node on the same pixels: the outputs must agree."""

from __future__ import annotations

import random
from collections.abc import Callable

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


def _statements(
    rng: random.Random, depth: int, names: list[str], out: list[str], pad: str, main: bool = True
) -> None:
    """Random control flow: assignments, if/else, early returns, loops with break/continue on
    pixel values, switch, calls to a helper with its own early returns (``main``: in
    evaluatePixel, else in the helper)."""
    early = "[a, b, {}]" if main else "{}"
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        target = rng.choice(["a", "b", "c"])
        if kind < 0.3 or depth <= 0:
            op = rng.choice(("=", "+=", "*=", "-="))
            out.append(f"{pad}{target} {op} {_number(rng, 2, names)};")
        elif kind < 0.5:
            out.append(f"{pad}if {_condition(rng, 1, names)} {{")
            _statements(rng, depth - 1, names, out, pad + "  ", main)
            if rng.random() < 0.5:
                out.append(f"{pad}}} else {{")
                _statements(rng, depth - 1, names, out, pad + "  ", main)
            out.append(f"{pad}}}")
        elif kind < 0.6:
            value = early.format(_number(rng, 1, names))
            out.append(f"{pad}if {_condition(rng, 1, names)} return {value};")
        elif kind < 0.75:
            n = rng.randint(1, 4)
            out.append(f"{pad}for (let i = 0; i < {n}; i++) {{")
            out.append(f"{pad}  {target} += i * {_number(rng, 1, names)};")
            jump = rng.choice(("break", "continue"))
            out.append(f"{pad}  if {_condition(rng, 1, [*names, 'i'])} {jump};")
            _statements(rng, depth - 1, names, out, pad + "  ", main)
            out.append(f"{pad}}}")
        elif kind < 0.85 and main:
            out.append(f"{pad}switch (Math.floor(s.B04 * 4)) {{")
            out.append(f"{pad}  case 0: {target} = {_number(rng, 1, names)}; break;")
            out.append(f"{pad}  case 1: {target} -= 1;")
            out.append(f"{pad}  case 2: {target} *= 2; break;")
            out.append(f"{pad}  default: {target} = helper({_number(rng, 1, names)}, {target});")
            out.append(f"{pad}}}")
        elif main:
            out.append(f"{pad}{target} = helper({_number(rng, 1, names)}, {target});")


def _flow_script(seed: int) -> str:
    rng = random.Random(seed)
    names = ["s.B02", "s.B04", "s.B08", "a", "b", "c"]
    body: list[str] = []
    _statements(rng, 3, names, body, "  ")
    helper: list[str] = []
    _statements(rng, 1, ["x", "y", "a", "b", "c"], helper, "  ", main=False)
    return f"""//VERSION=3
function setup() {{
  return {{ input: {list(BANDS)!r}, output: {{ bands: 3, sampleType: "FLOAT32" }} }};
}}
function helper(x, y) {{
  let a = x, b = y, c = 0.5;
{chr(10).join(helper)}
  return a - b * c;
}}
function evaluatePixel(s) {{
  let a = s.B02, b = 0, c = s.B08;
{chr(10).join(body)}
  return [a, b, c];
}}"""


def _colour(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return hex(rng.randrange(0, 0xFFFFFF))
    return repr([round(rng.random(), 2) for _ in range(3)])


def _array_script(seed: int) -> str:
    """Random arrays (indexing, assignment in branches, map, reduce, spread) and helpers
    (ramps with and without bounds, colour maps, valueMap/valueInterpolate of colours)."""
    rng = random.Random(seed)
    names = ["s.B02", "s.B04", "s.B08"]
    points = sorted(round(rng.uniform(-1, 2), 2) for _ in range(rng.randint(2, 6)))
    ramp = ", ".join(f"[{p}, {_colour(rng)}]" for p in points)
    bounds = rng.choice(("", ", -0.5, 1.5", ", 0.2"))
    limits = repr(points)
    colours = (
        "[" + ", ".join(repr([round(rng.random(), 2) for _ in range(3)]) for _ in points) + "]"
    )
    helper = rng.choice(("valueMap", "valueInterpolate", "colorBlend"))
    n = _number(rng, 2, names)
    return f"""//VERSION=3
function setup() {{
  return {{ input: {list(BANDS)!r}, output: {{ bands: 4, sampleType: "AUTO" }} }};
}}
const ramp = new ColorRampVisualizer([{ramp}]{bounds});
const map = new ColorMapVisualizer([{ramp}]);
function evaluatePixel(s) {{
  let arr = [{_number(rng, 2, names)}, {_number(rng, 2, names)}, {_number(rng, 1, names)}];
  if {_condition(rng, 1, names)} arr[1] = {_number(rng, 1, names)};
  arr = arr.map((v, i) => v * (i + 1) / 3);
  const total = arr.reduce((a, b) => a + b, 0);
  let col = {_condition(rng, 1, names)} ? ramp.process({n}) : {helper}({n}, {limits}, {colours});
  if ({_condition(rng, 1, [*names, "total"])}) col = map.process(arr[0]);
  if ({_condition(rng, 1, [*names, "total"])}) return [...col, total];
  return [arr[2], col[1], ...arr.slice(0, 1), Math.max(...arr)];
}}"""


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize(
    "generate", [_flow_script, _array_script], ids=["control flow", "arrays and helpers"]
)
def test_random_program_matches_node(generate: Callable[[int], str], seed: int) -> None:
    """Found: an outer break ignored by inner loops; constant folding raising on x / 0."""
    script = generate(seed)
    bands, valid = sample_bands(BANDS, shape=(16, 16), seed=seed, high=1.5)
    assert_matches_node(script, bands, valid)
