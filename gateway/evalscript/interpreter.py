"""Translate a script's syntax tree into per-pixel expressions, for all pixels at once.

Statements run once, over symbolic values. Control flow that depends on pixel values becomes
masks: ``if``/``else`` and ternaries narrow the current mask; ``return``, ``break`` and
``continue`` close the pixels of the current mask, and every later assignment or return only
fills the pixels whose mask is still open (``where(mask, new, old)``). Loops must have
conditions known at translation and are unrolled; script functions are inlined.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.evalscript import arrays, helpers
from gateway.evalscript.contract import SAMPLE_TYPES
from gateway.evalscript.errors import EvalscriptError, NotSupported, TranslationLimit, at
from gateway.evalscript.expr import BOOL, FALSE, TRUE, Builder, Expr, const
from gateway.evalscript.jsops import (
    MATH_CONSTANTS,
    MATH_FUNCTIONS,
    binary,
    both,
    either,
    equal,
    merge,
    negate,
    number,
    to_string,
    truthy,
    unary,
    undefined_mask,
)
from gateway.evalscript.values import (
    NULL,
    UNDEFINED,
    Array,
    Builtin,
    Function,
    Method,
    Object,
    Special,
    Str,
    Value,
)

Node = Any  # an esprima node


class Scope:
    """Variables of a block or function; ``origin`` is the mask they were made under."""

    def __init__(self, parent: Scope | None, function: bool, origin: str) -> None:
        self.parent, self.function, self.origin = parent, function, origin
        self.vars: dict[str, Value] = {}
        self.constants: set[str] = set()
        self.this: Value | None = None  # a constructor's object ('new'), else no 'this'
        self.binds_this = False  # a function's own scope (an arrow function's is not)

    def find(self, name: str) -> Scope | None:
        scope: Scope | None = self
        while scope is not None and name not in scope.vars:
            scope = scope.parent
        return scope

    def function_scope(self) -> Scope:
        scope = self
        while not scope.function and scope.parent is not None:
            scope = scope.parent
        return scope


class Frame:
    """One call: the pixels that have returned and the value they returned."""

    def __init__(self, check: Callable[[Value, Node], None] | None = None) -> None:
        self.returned: Expr = FALSE
        self.result: Value | None = None
        self.check = check


class Loop:
    """A loop or switch: the pixels that left it (break) or this iteration (continue)."""

    def __init__(self, switch: bool = False) -> None:
        self.broken: Expr = FALSE
        self.continued: Expr = FALSE
        self.switch = switch


class GlobalUse:
    """The global variables evaluatePixel read before writing them, and those it wrote: a
    global read, then written, carries state from one pixel to the next."""

    def __init__(self) -> None:
        self.read: set[str] = set()
        self.written: set[str] = set()


class Interpreter:
    """Runs statements over symbolic values, collecting numexpr steps in ``builder``."""

    def __init__(
        self, builder: Builder, *, deadline: float, max_iterations: int, max_depth: int
    ) -> None:
        self.b = builder
        self.deadline = deadline
        self.max_iterations, self.max_depth = max_iterations, max_depth
        self.entry: Expr = TRUE
        self.frame = Frame()
        self.loop: Loop | None = None
        self.depth = 0
        self.ticks = 0
        self.unmasked: Scope | None = None  # a scope whose variables are written for all pixels
        self.pixel: GlobalUse | None = None  # set while evaluatePixel is translated
        self.globals = Scope(None, True, TRUE.text)
        self.globals.vars.update(_environment())

    # --- masks ---------------------------------------------------------------------------

    def mask(self) -> Expr:
        """The pixels the current statement runs for."""
        m = both(self.b, self.entry, negate(self.b, self.frame.returned))
        if self.loop is not None:
            gone = either(self.b, self.loop.broken, self.loop.continued)
            m = both(self.b, m, negate(self.b, gone))
        return self.b.materialise(m)

    def dead(self) -> bool:
        m = self.mask()
        return m.constant and not m.value

    def tick(self, node: Node) -> None:
        self.ticks += 1
        if self.ticks % 256 == 0 and time.monotonic() > self.deadline:
            raise TranslationLimit("the script takes too long to translate")

    # --- programs and functions ----------------------------------------------------------

    def run_program(self, program: Node) -> None:
        """Run the script's top level (its constants, helpers and function declarations)."""
        self.block(program.body, self.globals)

    def call(
        self,
        fn: Value,
        args: list[Value],
        node: Node = None,
        frame: Frame | None = None,
        this: Value | None = None,
    ) -> Value:
        """Call a script function (inlined), a builtin or a bound method; ``this``: the
        object a constructor builds ('new')."""
        if isinstance(fn, Builtin):
            if fn.construct:
                raise EvalscriptError(f"{fn.name} is a class: call it with 'new'", *at(node))
            result = fn.call(self.b, args)
            # a helper's array is a new one, made under the current mask
            return (
                Array(list(result.items), self.mask().text) if isinstance(result, Array) else result
            )
        if isinstance(fn, Method):
            return fn.call(self.b, args)
        if not isinstance(fn, Function):
            raise EvalscriptError("calling something that is not a function", *at(node))
        if self.depth >= self.max_depth:
            raise NotSupported(
                f"calls nested more than {self.max_depth} deep (recursion?)", *at(node)
            )
        scope = Scope(fn.scope, True, self.mask().text)
        scope.binds_this = fn.node.type != "ArrowFunctionExpression"
        scope.this = this
        saved = (self.entry, self.frame, self.loop)
        self.entry, self.frame, self.loop = self.mask(), frame or Frame(), None
        self.depth += 1
        try:
            for i, param in enumerate(fn.node.params):
                if param.type == "RestElement":
                    self.bind(param.argument, Array(list(args[i:])), scope, declare=True)
                    break
                self.bind(param, args[i] if i < len(args) else UNDEFINED, scope, declare=True)
            body = fn.node.body
            if body.type != "BlockStatement":  # an arrow function's expression
                return self.expression(body, scope)
            self.block(body.body, scope)
            # pixels that never returned are already undefined (NaN) in the result
            return UNDEFINED if self.frame.result is None else self.frame.result
        finally:
            self.depth -= 1
            self.entry, self.frame, self.loop = saved

    # --- statements ----------------------------------------------------------------------

    def block(self, statements: Sequence[Node], scope: Scope) -> None:
        for statement in statements:  # function declarations are hoisted
            if statement.type == "FunctionDeclaration":
                scope.vars[statement.id.name] = Function(statement, scope, statement.id.name)
        for statement in statements:
            if self.dead():
                return
            self.statement(statement, scope)

    def statement(self, node: Node, scope: Scope) -> None:
        self.tick(node)
        kind = node.type
        if kind == "ExpressionStatement":
            self.expression(node.expression, scope)
        elif kind == "VariableDeclaration":
            self.declare(node, scope)
        elif kind == "ReturnStatement":
            self.return_(node, scope)
        elif kind == "IfStatement":
            self.if_(node, scope)
        elif kind == "BlockStatement":
            self.block(node.body, Scope(scope, False, self.mask().text))
        elif kind in ("ForStatement", "WhileStatement", "DoWhileStatement"):
            self.loop_(node, scope)
        elif kind in ("ForOfStatement", "ForInStatement"):
            self.for_each(node, scope)
        elif kind in ("BreakStatement", "ContinueStatement"):
            self.jump(node)
        elif kind == "SwitchStatement":
            self.switch(node, scope)
        elif kind == "TryStatement":
            self.try_(node, scope)
        elif kind in ("FunctionDeclaration", "EmptyStatement"):
            pass
        else:
            raise NotSupported(_construct(kind), *at(node))

    def try_(self, node: Node, scope: Scope) -> None:
        """try/catch: what translates cannot throw for some pixels only (what would throw is
        an error at translation), so the block runs and ``catch`` never does; an error met in
        the block, which the script may mean to catch, and ``finally`` (it runs after the
        block's returns too) send the script to the JavaScript engine."""
        if node.finalizer is not None:
            raise NotSupported("try/finally", *at(node.finalizer))
        try:
            self.block(node.block.body, Scope(scope, False, self.mask().text))
        except NotSupported:
            raise
        except EvalscriptError as exc:
            raise NotSupported(f"try/catch around an error: {exc}", *at(node)) from exc

    def declare(self, node: Node, scope: Scope) -> None:
        target = scope.function_scope() if node.kind == "var" else scope
        for declarator in node.declarations:
            value = (
                UNDEFINED if declarator.init is None else self.expression(declarator.init, scope)
            )
            if (
                declarator.init is None
                and node.kind == "var"
                and declarator.id.type == "Identifier"
                and declarator.id.name in target.vars
            ):
                continue  # 'var x;' again keeps x
            self.bind(declarator.id, value, target, declare=True, var=node.kind == "var")
            if node.kind == "const" and declarator.id.type == "Identifier":
                target.constants.add(declarator.id.name)

    def bind(
        self, pattern: Node, value: Value, scope: Scope, *, declare: bool, var: bool = False
    ) -> None:
        """Bind a name or destructuring pattern."""
        if pattern.type == "Identifier":
            if declare:
                value = self._stored(value)
                if var and pattern.name in scope.vars:
                    value = self._merged(scope, scope.vars[pattern.name], value, pattern)
                elif var and scope.origin != self.mask().text:
                    value = merge(self.b, self.mask(), value, UNDEFINED, pattern)
                scope.vars[pattern.name] = value
            else:
                self.assign_name(pattern, value, scope)
        elif pattern.type == "AssignmentPattern":
            if value is UNDEFINED:
                value = self.expression(pattern.right, scope)
            self.bind(pattern.left, value, scope, declare=declare, var=var)
        elif pattern.type == "ArrayPattern":
            items = value.items if isinstance(value, Array) else []
            for i, element in enumerate(pattern.elements):
                if element is None:
                    continue
                if element.type == "RestElement":
                    self.bind(
                        element.argument, Array(list(items[i:])), scope, declare=declare, var=var
                    )
                    break
                self.bind(
                    element,
                    items[i] if i < len(items) else UNDEFINED,
                    scope,
                    declare=declare,
                    var=var,
                )
        elif pattern.type == "ObjectPattern":
            props = value.props if isinstance(value, Object) else {}
            for prop in pattern.properties:
                if prop.type == "RestElement" or prop.computed:
                    raise NotSupported("a computed or rest property in a pattern", *at(prop))
                key = prop.key.name if prop.key.type == "Identifier" else str(prop.key.value)
                self.bind(prop.value, props.get(key, UNDEFINED), scope, declare=declare, var=var)
        elif pattern.type == "MemberExpression" and not declare:
            self.assign_member(pattern, value, scope)
        else:
            raise NotSupported(_construct(pattern.type), *at(pattern))

    def _stored(self, value: Value) -> Value:
        """A value about to be named: computed once (materialised) if it is an expression."""
        return self.b.materialise(value) if isinstance(value, Expr) else value

    def _merged(self, scope: Scope, old: Value, new: Value, node: Node) -> Value:
        m = self.mask()
        if m.text == scope.origin:
            return new
        return merge(self.b, m, new, old, node)

    def assign_name(self, node: Node, value: Value, scope: Scope) -> None:
        name = node.name
        owner = scope.find(name)
        if owner is None:  # an implicit global, as in sloppy-mode JavaScript
            owner = self.globals
            owner.vars[name] = UNDEFINED
        if name in owner.constants:
            raise EvalscriptError(f"assignment to the constant '{name}'", *at(node))
        if owner is self.globals and self.pixel is not None:
            if name in self.pixel.read:
                raise NotSupported(
                    f"state kept from pixel to pixel: evaluatePixel reads the global '{name}' "
                    "before it sets it",
                    *at(node),
                )
            self.pixel.written.add(name)
        if owner is self.unmasked:
            owner.vars[name] = self._stored(value)
            return
        owner.vars[name] = self._merged(owner, owner.vars[name], self._stored(value), node)

    def assign_member(self, node: Node, value: Value, scope: Scope) -> None:
        container = self.expression(node.object, scope)
        key = self.property_key(node, scope)
        if isinstance(container, Array):
            if not isinstance(key, int):
                raise NotSupported(
                    "an array position that is not a whole number known at translation", *at(node)
                )
            if key >= len(container.items):
                self._grow(container, node)()
                container.items.extend([UNDEFINED] * (key + 1 - len(container.items)))
            old = container.items[key]
            container.items[key] = self._member_value(container.origin, old, value, node)
        elif isinstance(container, Object):
            old = container.props.get(str(key), UNDEFINED)
            container.props[str(key)] = self._member_value(container.origin, old, value, node)
        else:
            raise NotSupported("setting a property of this value", *at(node))

    def _member_value(self, origin: str, old: Value, value: Value, node: Node) -> Value:
        m = self.mask()
        value = self._stored(value)
        return value if m.text == origin else merge(self.b, m, value, old, node)

    def _grow(self, array: Array, node: Node) -> Callable[[], None]:
        def check() -> None:
            if self.mask().text != array.origin:
                raise NotSupported("an array that grows for some pixels only", *at(node))

        return check

    def return_(self, node: Node, scope: Scope) -> None:
        value = UNDEFINED if node.argument is None else self.expression(node.argument, scope)
        if self.frame.check is not None:
            self.frame.check(value, node)
        m = self.mask()
        frame = self.frame
        if frame.result is None:
            frame.result = (
                value if (m.constant and m.value) else merge(self.b, m, value, UNDEFINED, node)
            )
        else:
            frame.result = merge(self.b, m, value, frame.result, node)
        if isinstance(frame.result, Expr):
            frame.result = self.b.materialise(frame.result)
        frame.returned = self.b.materialise(either(self.b, frame.returned, m))

    def if_(self, node: Node, scope: Scope) -> None:
        test = truthy(self.b, self.expression(node.test, scope))
        if test.constant:
            branch = node.consequent if test.value else node.alternate
            if branch is not None:
                self.statement(branch, scope)
            return
        test = self.b.materialise(test)
        saved = self.entry
        self.entry = self.b.materialise(both(self.b, saved, test))
        self.statement(node.consequent, scope)
        if node.alternate is not None:
            self.entry = self.b.materialise(both(self.b, saved, negate(self.b, test)))
            self.statement(node.alternate, scope)
        self.entry = saved

    def loop_(self, node: Node, scope: Scope) -> None:
        inner = Scope(scope, False, self.mask().text)
        if node.type == "ForStatement" and node.init is not None:
            if node.init.type == "VariableDeclaration":
                self.declare(node.init, inner)
            else:
                self.expression(node.init, inner)
        first = node.type == "DoWhileStatement"
        # an inner loop runs only where the enclosing loops and branches still run
        saved, saved_entry = self.loop, self.entry
        self.entry, self.loop = self.mask(), Loop()
        try:
            for _ in range(self.max_iterations + 1):
                if not first and node.test is not None and not self.condition(node.test, inner):
                    return
                first = False
                body = Scope(inner, False, self.mask().text)
                self.statement(node.body, body)
                self.loop.continued = FALSE
                if (self.loop.broken.constant and self.loop.broken.value) or self.dead():
                    return
                if node.type == "ForStatement" and node.update is not None:
                    # the loop's own counters: pixels that left the loop never read them again
                    self.unmasked, saved_unmasked = inner, self.unmasked
                    try:
                        self.expression(node.update, inner)
                    finally:
                        self.unmasked = saved_unmasked
            raise NotSupported(f"a loop of more than {self.max_iterations} iterations", *at(node))
        finally:
            self.loop, self.entry = saved, saved_entry

    def condition(self, node: Node, scope: Scope) -> bool:
        test = truthy(self.b, self.expression(node, scope))
        if not test.constant:
            raise NotSupported("a loop whose condition depends on pixel values", *at(node))
        return bool(test.value)

    def for_each(self, node: Node, scope: Scope) -> None:
        iterable = self.expression(node.right, scope)
        if isinstance(iterable, Array):
            values = (
                list(iterable.items)
                if node.type == "ForOfStatement"
                else [Str(str(i)) for i in range(len(iterable.items))]
            )
        elif isinstance(iterable, Object) and node.type == "ForInStatement":
            values = [Str(k) for k in iterable.props]
        else:
            raise NotSupported(f"{node.type} over this value", *at(node))
        if len(values) > self.max_iterations:
            raise NotSupported(f"a loop of more than {self.max_iterations} iterations", *at(node))
        # an inner loop runs only where the enclosing loops and branches still run
        saved, saved_entry = self.loop, self.entry
        self.entry, self.loop = self.mask(), Loop()
        try:
            for value in values:
                body = Scope(scope, False, self.mask().text)
                left = node.left
                if left.type == "VariableDeclaration":
                    target = body.function_scope() if left.kind == "var" else body
                    self.bind(
                        left.declarations[0].id, value, target, declare=True, var=left.kind == "var"
                    )
                else:
                    self.bind(left, value, body, declare=False)
                self.statement(node.body, body)
                self.loop.continued = FALSE
                if (self.loop.broken.constant and self.loop.broken.value) or self.dead():
                    return
        finally:
            self.loop, self.entry = saved, saved_entry

    def jump(self, node: Node) -> None:
        if node.label is not None:
            raise NotSupported("a labelled break or continue", *at(node))
        loop = self.loop
        if loop is None:
            raise EvalscriptError(
                f"'{'break' if node.type == 'BreakStatement' else 'continue'}' outside a loop",
                *at(node),
            )
        m = self.mask()
        if node.type == "BreakStatement":
            loop.broken = self.b.materialise(either(self.b, loop.broken, m))
        elif loop.switch:
            raise NotSupported("'continue' inside a switch", *at(node))
        else:
            loop.continued = self.b.materialise(either(self.b, loop.continued, m))

    def switch(self, node: Node, scope: Scope) -> None:
        subject = self.expression(node.discriminant, scope)
        hits: list[Expr | None] = []
        for case in node.cases:
            if case.test is None:
                hits.append(None)
            else:
                same = equal(self.b, subject, self.expression(case.test, scope), strict=True)
                hits.append(self.b.materialise(same))
        any_hit: Expr = FALSE
        for hit in hits:
            if hit is not None:
                any_hit = either(self.b, any_hit, hit)
        default = negate(self.b, any_hit)
        saved_entry, saved_loop = self.entry, self.loop
        start = self.mask()  # where the enclosing loops and branches still run
        self.loop = Loop(switch=True)
        inner = Scope(scope, False, self.mask().text)
        running: Expr = FALSE
        try:
            for case, hit in zip(node.cases, hits, strict=True):
                running = self.b.materialise(
                    either(self.b, running, default if hit is None else hit)
                )
                self.entry = self.b.materialise(both(self.b, start, running))
                for statement in case.consequent:
                    if self.dead():
                        break
                    self.statement(statement, inner)
        finally:
            self.entry, self.loop = saved_entry, saved_loop

    # --- expressions ---------------------------------------------------------------------

    def expression(self, node: Node, scope: Scope) -> Value:
        self.tick(node)
        kind = node.type
        handler = _EXPRESSIONS.get(kind)
        if handler is None:
            raise NotSupported(_construct(kind), *at(node))
        return handler(self, node, scope)

    def literal(self, node: Node, scope: Scope) -> Value:
        value = node.value
        if getattr(node, "regex", None) is not None:
            raise NotSupported("a regular expression", *at(node))
        if value is None:
            return NULL
        if isinstance(value, bool | int | float):
            return const(value if isinstance(value, bool) else float(value))
        if isinstance(value, str):
            return Str(value)
        raise NotSupported("this literal", *at(node))

    def identifier(self, node: Node, scope: Scope) -> Value:
        owner = scope.find(node.name)
        if owner is None:
            raise EvalscriptError(f"'{node.name}' is not defined", *at(node))
        if owner is self.globals and self.pixel is not None and node.name not in self.pixel.written:
            self.pixel.read.add(node.name)
        return owner.vars[node.name]

    def template(self, node: Node, scope: Scope) -> Value:
        parts = []
        for i, quasi in enumerate(node.quasis):
            parts.append(quasi.value.cooked)
            if i < len(node.expressions):
                parts.append(to_string(self.expression(node.expressions[i], scope)))
        return Str("".join(parts))

    def array(self, node: Node, scope: Scope) -> Value:
        items: list[Value] = []
        for element in node.elements:
            if element is None:
                items.append(UNDEFINED)
            elif element.type == "SpreadElement":
                items.extend(self._spread(element, scope))
            else:
                items.append(self.expression(element, scope))
        return Array(items, self.mask().text)

    def _spread(self, node: Node, scope: Scope) -> list[Value]:
        value = self.expression(node.argument, scope)
        if not isinstance(value, Array):
            raise NotSupported("spreading something that is not an array", *at(node))
        return list(value.items)

    def object(self, node: Node, scope: Scope) -> Value:
        props: dict[str, Value] = {}
        for prop in node.properties:
            if prop.type == "SpreadElement":
                value = self.expression(prop.argument, scope)
                if isinstance(value, Object):
                    props.update(value.props)
                continue
            if prop.computed:
                key = self.expression(prop.key, scope)
                name = to_string(key)
            elif prop.key.type == "Identifier":
                name = prop.key.name
            else:
                name = str(prop.key.value)
            if getattr(prop, "kind", "init") != "init":
                raise NotSupported("a getter or setter", *at(prop))
            props[name] = self.expression(prop.value, scope)
        return Object(props, self.mask().text)

    def function(self, node: Node, scope: Scope) -> Value:
        name = node.id.name if getattr(node, "id", None) is not None else "function"
        return Function(node, scope, name)

    def unary_(self, node: Node, scope: Scope) -> Value:
        if (
            node.operator == "typeof"
            and node.argument.type == "Identifier"
            and scope.find(node.argument.name) is None
        ):
            return Str("undefined")
        if node.operator == "delete":
            raise NotSupported("'delete'", *at(node))
        return self._at(
            node, lambda: unary(self.b, node.operator, self.expression(node.argument, scope))
        )

    def binary_(self, node: Node, scope: Scope) -> Value:
        left = self.expression(node.left, scope)
        right = self.expression(node.right, scope)
        if node.operator == "in":
            if isinstance(right, Object) and isinstance(left, Str):
                return const(left.value in right.props)
            raise NotSupported("'in' on these values", *at(node))
        if node.operator == "instanceof":
            raise NotSupported("'instanceof'", *at(node))
        return self._at(node, lambda: binary(self.b, node.operator, left, right))

    def _at(self, node: Node, compute: Callable[[], Value]) -> Value:
        """``compute()``, with the node's position on a NotSupported raised without one."""
        try:
            return compute()
        except NotSupported as exc:
            if exc.line is None:
                line, column = at(node)
                raise NotSupported(
                    str(exc.message).removeprefix("Evalscript: not supported: ").rstrip("."),
                    line,
                    column,
                ) from None
            raise

    def logical(self, node: Node, scope: Scope) -> Value:
        left = self.expression(node.left, scope)
        if node.operator == "??":
            if isinstance(left, Special):
                return self.expression(node.right, scope)
            gone = undefined_mask(left)
            if gone.constant:
                return left
            return merge(self.b, gone, self.expression(node.right, scope), left, node)
        test = truthy(self.b, left)
        if test.constant:
            if bool(test.value) == (node.operator == "&&"):
                return self.expression(node.right, scope)
            return left
        right = self.expression(node.right, scope)
        if isinstance(left, Expr) and isinstance(right, Expr) and left.kind == right.kind == BOOL:
            combine = both if node.operator == "&&" else either
            return combine(self.b, left, right)
        if node.operator == "&&":
            return merge(self.b, test, right, left, node)
        return merge(self.b, test, left, right, node)

    def conditional(self, node: Node, scope: Scope) -> Value:
        test = truthy(self.b, self.expression(node.test, scope))
        if test.constant:
            return self.expression(node.consequent if test.value else node.alternate, scope)
        test = self.b.materialise(test)
        yes = self.expression(node.consequent, scope)
        no = self.expression(node.alternate, scope)
        return merge(self.b, test, yes, no, node)

    def assignment(self, node: Node, scope: Scope) -> Value:
        value = self.expression(node.right, scope)
        if node.operator != "=":
            current = self.expression(node.left, scope)
            op = node.operator[:-1]
            if op in ("&&", "||", "??"):
                raise NotSupported(f"the operator '{node.operator}'", *at(node))
            value = self._at(node, lambda: binary(self.b, op, current, value))
        self.bind(node.left, value, scope, declare=False)
        return value

    def update(self, node: Node, scope: Scope) -> Value:
        old = number(self.b, self.expression(node.argument, scope))
        new = binary(self.b, "+" if node.operator == "++" else "-", old, const(1.0))
        self.bind(node.argument, new, scope, declare=False)
        return new if node.prefix else old

    def sequence(self, node: Node, scope: Scope) -> Value:
        value: Value = UNDEFINED
        for expression in node.expressions:
            value = self.expression(expression, scope)
        return value

    def property_key(self, node: Node, scope: Scope) -> str | int | Expr:
        """The key of ``a.b`` or ``a[b]``: a name, a whole number, or a per-pixel number."""
        if not node.computed:
            return str(node.property.name)
        key = self.expression(node.property, scope)
        if isinstance(key, Str):
            return int(key.value) if key.value.isdigit() else key.value
        if isinstance(key, Expr):
            if not key.constant:
                return key
            value = float(key.value if key.value is not None else 0.0)
            return int(value) if value.is_integer() and value >= 0 else repr(value)
        raise NotSupported("this kind of property key", *at(node))

    def member(self, node: Node, scope: Scope) -> Value:
        target = self.expression(node.object, scope)
        if getattr(node, "optional", False) and isinstance(target, Special):
            return UNDEFINED
        key = self.property_key(node, scope)
        return self.get(target, key, node)

    def get(self, target: Value, key: str | int | Expr, node: Node) -> Value:
        if isinstance(target, Array):
            if isinstance(key, Expr):
                return arrays.pick(self.b, target, key)
            if isinstance(key, int):
                return target.items[key] if key < len(target.items) else UNDEFINED
            if key == "length":
                return const(float(len(target.items)))
            return arrays.method(
                self.b,
                target,
                key,
                lambda fn, args: self.call(fn, args, node),
                self._grow(target, node),
                self.mask().text,
            )
        if isinstance(key, Expr):
            raise NotSupported("a per-pixel property name", *at(node))
        if isinstance(target, Object):
            return target.props.get(str(key), UNDEFINED)
        if isinstance(target, Str):
            if key == "length":
                return const(float(len(target.value)))
            if isinstance(key, int):
                return Str(target.value[key]) if key < len(target.value) else UNDEFINED
        if isinstance(target, Special):
            raise EvalscriptError(f"cannot read property '{key}' of {target.name}", *at(node))
        if isinstance(target, Builtin) and target.name in helpers.STATIC_METHODS:
            methods = helpers.STATIC_METHODS[target.name]
            if key in methods:
                return Builtin(str(key), methods[str(key)])
        raise NotSupported(f"the property '{key}' of this value", *at(node))

    def call_(self, node: Node, scope: Scope) -> Value:
        fn = self.expression(node.callee, scope)
        args = self.arguments(node, scope)
        if isinstance(fn, Special) and getattr(node, "optional", False):
            return UNDEFINED
        return self._at(node, lambda: self.call(fn, args, node))

    def arguments(self, node: Node, scope: Scope) -> list[Value]:
        args: list[Value] = []
        for arg in node.arguments:
            if arg.type == "SpreadElement":
                args.extend(self._spread(arg, scope))
            else:
                args.append(self.expression(arg, scope))
        return args

    def new(self, node: Node, scope: Scope) -> Value:
        fn = self.expression(node.callee, scope)
        args = self.arguments(node, scope)
        if fn is self.globals.vars["Array"]:  # new Array(n): n holes; new Array(a, b): [a, b]
            return self._new_array(args, node)
        if isinstance(fn, Function) and fn.node.type != "ArrowFunctionExpression":
            made = Object({})  # a constructor: its 'this', unless it returns an object
            result = self.call(fn, args, node, this=made)
            return result if isinstance(result, (Object, Array)) else made
        if not isinstance(fn, Builtin) or not fn.construct:
            raise NotSupported("'new' of this value", *at(node))
        return self._at(node, lambda: fn.call(self.b, args))

    def _new_array(self, args: list[Value], node: Node) -> Array:
        if len(args) != 1 or not isinstance(args[0], Expr) or args[0].kind == BOOL:
            return Array(list(args), self.mask().text)
        size = args[0]
        if not size.constant:
            raise NotSupported("new Array of a per-pixel length", *at(node))
        count = float(size.value if size.value is not None else 0.0)
        if not (count.is_integer() and 0 <= count < 2**32):
            raise EvalscriptError("RangeError: Invalid array length", *at(node))
        if count > self.max_iterations:
            raise NotSupported(f"an array of more than {self.max_iterations} items", *at(node))
        return Array([UNDEFINED] * int(count), self.mask().text)

    def this_(self, node: Node, scope: Scope) -> Value:
        found: Scope | None = scope
        while found is not None and not found.binds_this:
            found = found.parent
        if found is None or found.this is None:
            raise NotSupported("'this' outside a constructor", *at(node))
        return found.this

    def chain(self, node: Node, scope: Scope) -> Value:
        return self.expression(node.expression, scope)


_EXPRESSIONS: dict[str, Callable[[Interpreter, Node, Scope], Value]] = {
    "Literal": Interpreter.literal,
    "Identifier": Interpreter.identifier,
    "TemplateLiteral": Interpreter.template,
    "ArrayExpression": Interpreter.array,
    "ObjectExpression": Interpreter.object,
    "FunctionExpression": Interpreter.function,
    "ArrowFunctionExpression": Interpreter.function,
    "UnaryExpression": Interpreter.unary_,
    "BinaryExpression": Interpreter.binary_,
    "LogicalExpression": Interpreter.logical,
    "ConditionalExpression": Interpreter.conditional,
    "AssignmentExpression": Interpreter.assignment,
    "UpdateExpression": Interpreter.update,
    "SequenceExpression": Interpreter.sequence,
    "MemberExpression": Interpreter.member,
    "StaticMemberExpression": Interpreter.member,
    "ComputedMemberExpression": Interpreter.member,
    "CallExpression": Interpreter.call_,
    "NewExpression": Interpreter.new,
    "ThisExpression": Interpreter.this_,
    "ChainExpression": Interpreter.chain,
}

_NAMES = {
    "ClassDeclaration": "a class",
    "ClassExpression": "a class",
    "ThrowStatement": "throw",
    "WithStatement": "'with'",
    "LabeledStatement": "a label",
    "AwaitExpression": "'await'",
    "YieldExpression": "'yield'",
    "TaggedTemplateExpression": "a tagged template",
}


def _construct(kind: str) -> str:
    return _NAMES.get(kind, f"the construct {kind}")


def _environment() -> dict[str, Value]:
    """The global names: Math, Number, Sentinel Hub's helpers and visualizers."""
    math_props: dict[str, Value] = {k: const(v) for k, v in MATH_CONSTANTS.items()}
    math_props.update({k: Builtin(f"Math.{k}", f) for k, f in MATH_FUNCTIONS.items()})
    is_nan = Builtin("isNaN", lambda b, args: _is_nan(b, args))
    number_props: dict[str, Value] = {
        "isNaN": is_nan,
        "MAX_VALUE": const(1.7976931348623157e308),
        "MIN_VALUE": const(5e-324),
        "EPSILON": const(2.220446049250313e-16),
        "POSITIVE_INFINITY": const(float("inf")),
        "NEGATIVE_INFINITY": const(float("-inf")),
    }
    env: dict[str, Value] = {
        "Math": Object(math_props),
        "Number": Object(number_props),
        "Array": Object(
            {
                "isArray": Builtin(
                    "Array.isArray", lambda b, a: const(bool(a) and isinstance(a[0], Array))
                )
            }
        ),
        "undefined": UNDEFINED,
        "NaN": const(float("nan")),
        "Infinity": const(float("inf")),
        "isNaN": is_nan,
        "isFinite": Builtin("isFinite", lambda b, args: _is_finite(b, args)),
        "SampleType": Object({t: Str(t) for t in SAMPLE_TYPES}),  # SampleType.UINT16...
    }
    env.update({k: Builtin(k, f) for k, f in helpers.FUNCTIONS.items()})
    env.update({k: Builtin(k, f, construct=True) for k, f in helpers.CONSTRUCTORS.items()})
    env.update({k: const(v) for k, v in helpers.CONSTANTS.items()})
    return env


def _is_nan(b: Builder, args: Sequence[Value]) -> Value:
    x = number(b, args[0]) if args else const(float("nan"))
    return b.apply("({0} != {0})", [x], BOOL, lambda p: p != p)


def _is_finite(b: Builder, args: Sequence[Value]) -> Value:
    x = number(b, args[0]) if args else const(float("nan"))
    return b.apply("(({0} - {0}) == 0)", [x], BOOL, lambda p: p - p == 0)
