"""Per-request band math: parse, validate and evaluate expressions with numexpr.

An expression such as ``(B08-B04)/(B08+B04)`` is parsed with Python's ``ast`` and checked
against an allowlist (band names, numbers, arithmetic, comparisons, ``& | ~`` and a few
numexpr functions) before numexpr ever sees it. The checked tree is normalised and
rewritten for numexpr so that the whole evaluation stays float32:

- constant sub-expressions are folded here, in float32 (``9**9**9`` is refused, not computed);
- every number becomes a named float32 0-d input (numexpr would turn a Python float literal
  into a float64 constant and compute the whole expression in float64, ~1.6x slower);
- small integral and half-integral exponents stay literal, so numexpr unrolls ``x**2`` into
  ``x*x``;
- conditions used as numbers become ``where(c, 1, 0)``, so every output is float32.

Compiled numexpr programs are cached per thread: one ``NumExpr`` object must not run in two
threads at once (its temporaries live in the object; sharing one crashes with one numexpr
thread), which is also why numexpr's own caches are thread-local.
"""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numexpr
import numpy as np

from gateway.errors import InvalidParameterValue, LimitExceeded

__all__ = ["Expression", "numexpr_program", "parse_expression"]

log = logging.getLogger(__name__)

LOCATOR = "expression"
MAX_ECHO = 40  # characters of user input an error message may quote
MAX_UNROLLED_POWER = 50  # numexpr unrolls x**n for integral or half-integral |n| <= 50
MAX_PROGRAM_INPUTS = 60  # numexpr takes at most 64 operands (inputs + output)
PROGRAM_CACHE_SIZE = 128  # compiled programs kept per thread

# numexpr functions that keep float32 float32 (numexpr computes maximum, hypot, sign... in float64).
_FUNCTIONS: Mapping[str, Callable[..., np.generic]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "arctan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "arcsinh": np.arcsinh,
    "arccosh": np.arccosh,
    "arctanh": np.arctanh,
    "log": np.log,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
}
_ARITY: Mapping[str, int] = {"where": 3, "arctan2": 2}
_FUNCTION_LIST = ", ".join(sorted([*_FUNCTIONS, "where"]))

_ARITHMETIC: Mapping[type[ast.operator], tuple[str, Callable[..., np.generic]]] = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.divide),
    ast.Mod: ("%", np.remainder),
    ast.Pow: ("**", np.power),
}
_LOGICAL: Mapping[type[ast.AST], tuple[str, Callable[..., np.generic]]] = {
    ast.BitAnd: ("&", np.logical_and),
    ast.BitOr: ("|", np.logical_or),
    ast.And: ("and", np.logical_and),
    ast.Or: ("or", np.logical_or),
}
_COMPARISONS: Mapping[type[ast.cmpop], Callable[..., np.generic]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_SYMBOLS: Mapping[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitXor: "^",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_FORBIDDEN: Mapping[type[ast.AST], str] = {
    ast.Attribute: "Attribute access ('.')",
    ast.Subscript: "Indexing ('[...]')",
    ast.Slice: "A slice",
    ast.Lambda: "'lambda'",
    ast.IfExp: "'... if ... else ...' (use where(condition, a, b))",
    ast.NamedExpr: "':='",
    ast.Starred: "'*' unpacking",
    ast.JoinedStr: "A string",
    ast.List: "A list",
    ast.Tuple: "A tuple (use ';' to separate outputs)",
    ast.Set: "A set",
    ast.Dict: "A dict",
    ast.ListComp: "A comprehension",
    ast.SetComp: "A comprehension",
    ast.DictComp: "A comprehension",
    ast.GeneratorExp: "A comprehension",
    ast.Await: "'await'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield'",
}

_program_cache = threading.local()


@dataclass(frozen=True)
class Expression:
    """A checked band-math expression, ready to evaluate on float32 reflectance arrays."""

    source: str
    outputs: tuple[str, ...]
    bands: tuple[str, ...]
    # numexpr source and argument names per output; inputs are v<i> (bands[i]) and k<j>
    _programs: tuple[tuple[str, tuple[str, ...]], ...] = field(repr=False, compare=False)
    _constants: Mapping[str, np.ndarray] = field(repr=False, compare=False)

    def evaluate(
        self, bands: Mapping[str, np.ndarray], valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """bands: name -> float32 (h, w) reflectance; valid: bool (h, w) True where all inputs
        are valid. Returns (data float32 (n_outputs, h, w), valid bool (h, w)). Pixels where any
        output is not finite (division by zero, log of 0...) or an input is invalid are invalid;
        their data value is NaN."""
        ok = np.array(valid, dtype=bool)  # a copy: the caller's mask is left alone
        if not ok.any():  # no valid input (a tile beside every scene): nothing to compute
            return np.full((len(self._programs), *ok.shape), np.nan, dtype=np.float32), ok
        args: dict[str, np.ndarray] = dict(self._constants)
        for i, name in enumerate(self.bands):
            args[f"v{i}"] = _band_input(bands, name, ok.shape)
        data = np.empty((len(self._programs), *ok.shape), dtype=np.float32)
        scratch = np.empty(ok.shape, dtype=bool)
        for out, (source, names) in zip(data, self._programs, strict=True):
            program = _program(source, names)
            program(
                *(args[n] for n in names),
                out=out,
                order="K",
                casting="safe",
                ex_uses_vml=numexpr.use_vml,
            )
            ok &= np.isfinite(out, out=scratch)
        np.copyto(data, np.float32(np.nan), where=~ok)
        return data, ok


def parse_expression(
    text: str,
    allowed_bands: Collection[str],
    *,
    max_length: int = 2000,
    max_nodes: int = 200,
    max_outputs: int = 4,
    max_depth: int = 50,
) -> Expression:
    """Check ``text`` (outputs separated by ';') against the allowlist and compile it.

    Band names are matched case-insensitively and normalised to their spelling in
    ``allowed_bands``. Raises ``InvalidParameterValue`` (``LimitExceeded`` for the bounds)
    with a message that is safe to show.
    """
    return _parse(text, tuple(allowed_bands), max_length, max_nodes, max_outputs, max_depth)


@lru_cache(maxsize=256)
def _parse(
    text: str,
    allowed: tuple[str, ...],
    max_length: int,
    max_nodes: int,
    max_outputs: int,
    max_depth: int,
) -> Expression:
    """parse_expression, cached on its arguments (an Expression is immutable)."""
    hint = f" Valid bands: {', '.join(allowed) or '(none)'}."
    source = text.strip() if isinstance(text, str) else ""
    if not source:
        raise InvalidParameterValue("The expression is empty." + hint, locator=LOCATOR)
    if len(source) > max_length:
        raise LimitExceeded(
            f"The expression is {len(source)} characters long; the limit is {max_length}.",
            locator=LOCATOR,
        )
    flat = source.translate(_WHITESPACE)
    _check_characters(flat, max_depth, hint)
    trees = _output_trees(flat, hint, max_nodes, max_outputs, max_depth)
    normaliser = _Normaliser(_band_finder(allowed), hint)
    terms = [normaliser.output(tree, start) for tree, start in trees]
    expression = _compiled(source, terms, tuple(sorted(normaliser.used)))
    for program, names in expression._programs:  # compile now: errors surface at parse time
        try:
            _program(program, names)
        except Exception:
            log.exception("numexpr could not compile %r (from %r)", program, source)
            raise InvalidParameterValue(
                "The expression could not be compiled." + hint, locator=LOCATOR
            ) from None
    return expression


def _output_trees(
    flat: str, hint: str, max_nodes: int, max_outputs: int, max_depth: int
) -> list[tuple[ast.expr, int]]:
    """The syntax tree of each ``;``-separated output and where its text begins, bounded in
    outputs, terms and depth."""
    parts = flat.split(";")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()  # allow a trailing ';'
    if len(parts) > max_outputs:
        raise LimitExceeded(
            f"The expression has {len(parts)} outputs; the limit is {max_outputs}.",
            locator=LOCATOR,
        )
    trees, offset, nodes = [], 0, 0
    for number, part in enumerate(parts, start=1):
        start = offset + len(part) - len(part.lstrip())  # where the output's text begins
        offset += len(part) + 1
        if not part.strip():
            raise InvalidParameterValue(
                f"Output {number} of the expression is empty." + hint, locator=LOCATOR
            )
        tree = _syntax_tree(part.strip(), start, hint)
        nodes += sum(isinstance(n, ast.expr) for n in ast.walk(tree))
        if nodes > max_nodes:
            raise LimitExceeded(f"The expression has more than {max_nodes} terms.", locator=LOCATOR)
        if _depth(tree) > max_depth:
            raise LimitExceeded(
                f"The expression nests operators, functions or parentheses more than {max_depth} "
                "levels deep.",
                locator=LOCATOR,
            )
        trees.append((tree, start))
    return trees


def _compiled(source: str, terms: list, bands: tuple[str, ...]) -> Expression:
    """The numexpr programme of each normalised output (bands as ``v0``, ``v1``...; numbers
    as float32 constants)."""
    variables = {band: f"v{i}" for i, band in enumerate(bands)}
    constants: dict[bytes, tuple[str, np.ndarray]] = {}
    programs = []
    for term in terms:
        used: set[str] = set()
        program = ast.unparse(_program_tree(term.node, variables, constants, used))
        names = tuple(sorted(used))
        if len(names) > MAX_PROGRAM_INPUTS:
            raise LimitExceeded(
                "The expression uses too many different numbers and bands.", locator=LOCATOR
            )
        programs.append((program, names))
    return Expression(
        source=source,
        outputs=tuple(ast.unparse(term.node) for term in terms),
        bands=bands,
        _programs=tuple(programs),
        _constants=dict(constants.values()),
    )


_WHITESPACE = str.maketrans("\t\n\r\f\v", "     ")


def _quote(text: str) -> str:
    """Quote user input for an error message, cut to MAX_ECHO characters."""
    if len(text) > MAX_ECHO:
        text = text[: MAX_ECHO - 3] + "..."
    return f"'{text}'"


def _check_characters(text: str, max_depth: int, hint: str) -> None:
    """Refuse non-printable or non-ASCII characters and parentheses nested too deeply."""
    depth = 0
    for position, char in enumerate(text, start=1):
        if not " " <= char <= "~":
            raise InvalidParameterValue(
                f"Character U+{ord(char):04X} at position {position} is not allowed." + hint,
                locator=LOCATOR,
            )
        depth += (char == "(") - (char == ")")
        if depth > max_depth:
            raise LimitExceeded(
                f"The expression nests more than {max_depth} parentheses deep.",
                locator=LOCATOR,
            )


def _syntax_tree(text: str, start: int, hint: str) -> ast.expr:
    """Parse one output (``start``: its offset in the whole text); errors give the position."""
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        column = max(exc.offset or 1, 1)
        reason = (exc.msg or "invalid syntax").split("\n")[0][:60]
        near = text[column - 1 :]
        where = f" near {_quote(near[:20])}" if near else " at the end"
        message = f"Syntax error at position {start + column}{where}: {reason}."
    except (ValueError, RecursionError, MemoryError):
        message = "The expression could not be parsed."
    raise InvalidParameterValue(message + hint, locator=LOCATOR)


def _depth(tree: ast.expr) -> int:
    """Nesting depth of the expression nodes, computed without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))
    return deepest


def _band_finder(allowed: tuple[str, ...]) -> Callable[[str], str | None]:
    """Find a band by its exact name, else case-insensitively when that is unambiguous."""
    exact = set(allowed)
    folded: dict[str, list[str]] = {}
    for band in allowed:
        folded.setdefault(band.casefold(), []).append(band)

    def find(name: str) -> str | None:
        if name in exact:
            return name
        matches = folded.get(name.casefold(), [])
        return matches[0] if len(matches) == 1 else None

    return find


class _Term(NamedTuple):
    """A normalised sub-expression: its tree, whether it is a condition, its value if constant."""

    node: ast.expr
    boolean: bool = False
    value: np.generic | None = None


def _constant(value: np.generic) -> _Term:
    """The term of a folded float32 number or boolean."""
    if isinstance(value, np.bool_):
        return _Term(ast.Constant(bool(value)), True, value)
    magnitude = abs(float(value))
    if magnitude.is_integer() and magnitude < 2**24:
        literal: float = int(magnitude)
    else:
        literal = float(str(np.float32(magnitude)))  # the shortest text of this float32
    node: ast.expr = ast.Constant(literal)
    if np.signbit(value):
        node = ast.UnaryOp(ast.USub(), node)
    return _Term(node, False, value)


class _Normaliser:
    """Turn Python syntax trees into allowlisted, float32-folded numexpr-ready trees."""

    def __init__(self, find_band: Callable[[str], str | None], hint: str) -> None:
        self.find_band = find_band
        self.hint = hint
        self.used: set[str] = set()
        self.start = 0

    def fail(self, node: ast.AST, message: str) -> InvalidParameterValue:
        """An error for ``node``, with its position in the whole text."""
        position = self.start + getattr(node, "col_offset", 0) + 1
        return InvalidParameterValue(
            f"{message} (at position {position}).{self.hint}", locator=LOCATOR
        )

    def output(self, node: ast.expr, start: int) -> _Term:
        """One output, whose text begins at ``start`` in the whole expression."""
        self.start = start
        return self.number(node)

    def number(self, node: ast.expr) -> _Term:
        """A numeric term; conditions become 0/1."""
        term = self.term(node)
        if not term.boolean:
            return term
        if term.value is not None:
            return _constant(np.float32(term.value))
        one, zero = ast.Constant(1), ast.Constant(0)
        return _Term(ast.Call(ast.Name("where"), [term.node, one, zero], []))

    def condition(self, node: ast.expr, symbol: str) -> _Term:
        """A condition term, for & | ~ and their and/or/not spellings."""
        term = self.term(node)
        if not term.boolean:
            raise self.fail(
                node, f"Operator '{symbol}' combines conditions (comparisons), not numbers"
            )
        return term

    def combine(
        self,
        origin: ast.expr,
        node: ast.expr,
        function: Callable[..., np.generic],
        *terms: _Term,
    ) -> _Term:
        """The term ``node``, written at ``origin``; folded in float32 if all terms are constant."""
        boolean = isinstance(node, ast.Compare) or (
            isinstance(node, ast.BinOp | ast.UnaryOp)
            and isinstance(node.op, ast.BitAnd | ast.BitOr | ast.Invert)
        )
        if any(term.value is None for term in terms):
            return _Term(node, boolean)
        with np.errstate(all="ignore"):
            value = function(*(term.value for term in terms))
        if not boolean and not np.isfinite(value):
            raise self.fail(
                origin,
                "A constant part of the expression is not a finite number: an overflow, "
                "a division by zero or a function outside its domain",
            )
        return _constant(value)

    def term(self, node: ast.expr) -> _Term:
        """Check and normalise any allowed node."""
        match node:
            case ast.Constant(value=value):
                return self.literal(node, value)
            case ast.Name(id=name):
                band = self.find_band(name)
                if band is None:
                    raise self.fail(node, f"Unknown band {_quote(name)}")
                self.used.add(band)
                return _Term(ast.Name(band))
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.number(operand)
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                term = self.number(operand)
                return self.combine(node, ast.UnaryOp(ast.USub(), term.node), np.negative, term)
            case ast.UnaryOp(op=ast.Invert() | ast.Not() as op, operand=operand):
                term = self.condition(operand, "~" if isinstance(op, ast.Invert) else "not")
                inverse = ast.UnaryOp(ast.Invert(), term.node)
                return self.combine(node, inverse, np.logical_not, term)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITHMETIC:
                _, function = _ARITHMETIC[type(op)]
                a, b = self.number(left), self.number(right)
                return self.combine(node, ast.BinOp(a.node, op, b.node), function, a, b)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _LOGICAL:
                return self.logical(node, op, [left, right])
            case ast.BoolOp(op=op, values=values):
                return self.logical(node, op, values)
            case ast.BinOp(op=op) if type(op) in _SYMBOLS:
                raise self.fail(node, f"Operator '{_SYMBOLS[type(op)]}' is not allowed")
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                return self.compare(node, left, ops, comparators)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
                return self.call(node, name, args, keywords)
            case ast.Call(func=function):
                self.term(function)  # names the forbidden construct, if that is what it is
                raise self.fail(node, "Only functions can be called, by name")
        description = _FORBIDDEN.get(type(node), f"'{type(node).__name__}'")
        raise self.fail(node, f"{description} is not allowed")

    def literal(self, node: ast.expr, value: object) -> _Term:
        """A number literal as a float32 constant."""
        if isinstance(value, str | bytes):
            raise self.fail(node, "A string is not allowed")
        if isinstance(value, complex):
            raise self.fail(node, "Complex numbers are not allowed")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, f"'{value!r}' is not allowed; only numbers are")
        try:
            with np.errstate(over="ignore"):
                number = np.float32(value)
        except OverflowError:
            number = np.float32(np.inf)
        if not np.isfinite(number):
            raise self.fail(node, "A number is too large for float32")
        return _constant(number)

    def logical(self, origin: ast.expr, op: ast.AST, operands: list[ast.expr]) -> _Term:
        """``a & b & ...`` (also written ``a and b``)."""
        symbol, function = _LOGICAL[type(op)]
        bitwise = ast.BitAnd() if function is np.logical_and else ast.BitOr()
        result = self.condition(operands[0], symbol)
        for operand in operands[1:]:
            term = self.condition(operand, symbol)
            node = ast.BinOp(result.node, bitwise, term.node)
            result = self.combine(origin, node, function, result, term)
        return result

    def compare(
        self, origin: ast.expr, left: ast.expr, ops: list[ast.cmpop], comparators: list[ast.expr]
    ) -> _Term:
        """Comparisons; chains such as ``0 < B04 < 0.2`` become ``(0 < B04) & (B04 < 0.2)``."""
        for op in ops:
            if type(op) not in _COMPARISONS:
                raise self.fail(origin, f"Operator '{_SYMBOLS[type(op)]}' is not allowed")
        terms = [self.number(left), *(self.number(c) for c in comparators)]
        result: _Term | None = None
        for op, a, b in zip(ops, terms, terms[1:], strict=False):
            test = ast.Compare(a.node, [op], [b.node])
            pair = self.combine(origin, test, _COMPARISONS[type(op)], a, b)
            if result is None:
                result = pair
            else:
                node = ast.BinOp(result.node, ast.BitAnd(), pair.node)
                result = self.combine(origin, node, np.logical_and, result, pair)
        assert result is not None
        return result

    def call(
        self, node: ast.Call, name: str, args: list[ast.expr], keywords: list[ast.keyword]
    ) -> _Term:
        """A call to an allowlisted function with the right number of plain arguments."""
        if name != "where" and name not in _FUNCTIONS:
            raise self.fail(
                node, f"Unknown function {_quote(name)}; functions are {_FUNCTION_LIST}"
            )
        if keywords:
            raise self.fail(node, f"Keyword arguments are not allowed in {name}()")
        arity = _ARITY.get(name, 1)
        if len(args) != arity:
            plural = "s" if arity > 1 else ""
            raise self.fail(node, f"{name}() takes {arity} argument{plural}, got {len(args)}")
        if name == "where":
            condition = self.term(args[0])
            if not condition.boolean:  # a number is true where it is not 0, as in numpy
                zero = _constant(np.float32(0))
                test = ast.Compare(condition.node, [ast.NotEq()], [zero.node])
                condition = self.combine(args[0], test, np.not_equal, condition, zero)
            a, b = self.number(args[1]), self.number(args[2])
            if condition.value is not None:
                return a if condition.value else b
            return _Term(ast.Call(ast.Name("where"), [condition.node, a.node, b.node], []))
        terms = [self.number(arg) for arg in args]
        call = ast.Call(ast.Name(name), [t.node for t in terms], [])
        return self.combine(node, call, _FUNCTIONS[name], *terms)


def _constant_value(node: ast.expr) -> float | None:
    """The value of a normalised number constant (``2.5`` or ``-2.5``), else None."""
    match node:
        case ast.Constant(value=bool()):
            return None
        case ast.Constant(value=int() | float() as value):
            return float(value)
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float() as value)):
            return -float(value)
    return None


def _program_tree(
    node: ast.expr,
    variables: Mapping[str, str],
    constants: dict[bytes, tuple[str, np.ndarray]],
    used: set[str],
) -> ast.expr:
    """The numexpr tree: bands become v<i> and numbers named float32 inputs k<j>."""
    value = _constant_value(node)
    if value is not None:
        number = np.float32(value)
        name, _ = constants.setdefault(number.tobytes(), (f"k{len(constants)}", _frozen(number)))
        used.add(name)
        return ast.Name(name)

    def convert(child: ast.expr) -> ast.expr:
        return _program_tree(child, variables, constants, used)

    match node:
        case ast.Name(id=band):
            used.add(variables[band])
            return ast.Name(variables[band])
        case ast.BinOp(left=left, op=ast.Pow(), right=right) if _unrolled_exponent(right):
            return ast.BinOp(convert(left), ast.Pow(), right)
        case ast.BinOp(left=left, op=op, right=right):
            return ast.BinOp(convert(left), op, convert(right))
        case ast.UnaryOp(op=op, operand=operand):
            return ast.UnaryOp(op, convert(operand))
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            return ast.Compare(convert(left), ops, [convert(c) for c in comparators])
        case ast.Call(func=function, args=args):
            return ast.Call(function, [convert(a) for a in args], [])
    return node  # True / False


def _unrolled_exponent(node: ast.expr) -> bool:
    """True for the exponents numexpr turns into multiplications (and a sqrt)."""
    value = _constant_value(node)
    return value is not None and (2 * value).is_integer() and abs(value) <= MAX_UNROLLED_POWER


def _frozen(value: np.float32) -> np.ndarray:
    """A read-only 0-d float32 array: a constant numexpr keeps in float32."""
    array = np.array(value, dtype=np.float32)
    array.flags.writeable = False
    return array


def _program(source: str, names: tuple[str, ...]) -> numexpr.NumExpr:
    """The compiled numexpr program for ``source`` over float32 inputs ``names``."""
    # numexpr spells float32 as Python's float in signatures
    return numexpr_program(source, tuple((n, float) for n in names))


def numexpr_program(source: str, signature: tuple[tuple[str, type], ...]) -> numexpr.NumExpr:
    """The compiled numexpr program for ``source`` with the typed inputs of ``signature``
    (``float`` is float32, ``np.float64`` float64, ``bool`` boolean), from this thread's cache."""
    cache: dict[tuple[str, tuple[tuple[str, type], ...]], numexpr.NumExpr]
    cache = _program_cache.__dict__.setdefault("programs", {})
    key = (source, signature)
    program = cache.get(key)
    if program is None:
        if len(cache) >= PROGRAM_CACHE_SIZE:
            del cache[next(iter(cache))]
        program = numexpr.NumExpr(source, list(signature), truediv=True)
        cache[key] = program
    return program


def _band_input(bands: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One band as a float32 array of the mask's shape."""
    try:
        array = np.asarray(bands[name], dtype=np.float32)
    except KeyError:
        raise ValueError(f"band {name!r} is missing from the inputs") from None
    if array.shape != shape:
        raise ValueError(f"band {name!r} has shape {array.shape}, the mask {shape}")
    return array
