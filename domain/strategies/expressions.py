"""The expression language of user strategies: parsing and checking rules, never running them.

A rule is a small subset of Python's expression syntax, parsed with `ast` and accepted only
node by node from a whitelist (docs/simulation.md, "Expression strategies"). The result is a
tree of frozen nodes that the engine evaluates over candles and the API checks parameters
against; nothing here evaluates a series, and nothing is ever passed to `eval`.
"""

import ast
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

MAX_RULE_CHARS = 2_000
MAX_RULE_NODES = 200
MAX_WINDOW = 10_000

SERIES = ("open", "high", "low", "close", "volume", "turnover")

Kind = Literal["number", "boolean"]
# An argument of a function: a series or number (x), a window 1..MAX_WINDOW (n), or a shift
# 0..MAX_WINDOW (k); windows and shifts are constant integers: literals and int parameters.
ArgKind = Literal["x", "n", "k"]


@dataclass(frozen=True)
class Function:
    args: tuple[ArgKind, ...]
    returns: Kind = "number"


FUNCTIONS: dict[str, Function] = {
    "sma": Function(("x", "n")),
    "ema": Function(("x", "n")),
    "rma": Function(("x", "n")),
    "rsi": Function(("x", "n")),
    "stdev": Function(("x", "n")),
    "highest": Function(("x", "n")),
    "lowest": Function(("x", "n")),
    "shift": Function(("x", "k")),
    "change": Function(("x", "k")),
    "roc": Function(("x", "k")),
    "atr": Function(("n",)),
    "macd": Function(("x", "n", "n")),
    "macd_signal": Function(("x", "n", "n", "n")),
    "crosses_above": Function(("x", "x"), "boolean"),
    "crosses_below": Function(("x", "x"), "boolean"),
    "abs": Function(("x",)),
    "min": Function(("x", "x")),
    "max": Function(("x", "x")),
    "log": Function(("x",)),
    "sqrt": Function(("x",)),
}

RESERVED_NAMES = frozenset(SERIES) | frozenset(FUNCTIONS) | {"and", "or", "not"}


class ExpressionError(ValueError):
    """A rule the language refuses; `field` is where it stands relative to the definition."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Series:
    name: str


@dataclass(frozen=True)
class Param:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: "Node"


@dataclass(frozen=True)
class Arithmetic:
    op: Literal["+", "-", "*", "/"]
    left: "Node"
    right: "Node"


ComparisonOp = Literal["<", "<=", ">", ">=", "==", "!="]


@dataclass(frozen=True)
class Comparison:
    op: ComparisonOp
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Logical:
    op: Literal["and", "or"]
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple["Node", ...]


Node = Number | Series | Param | Negate | Arithmetic | Comparison | Logical | Not | Call

_ARITHMETIC: dict[type[ast.operator], Literal["+", "-", "*", "/"]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
_COMPARISONS: dict[type[ast.cmpop], ComparisonOp] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}


@dataclass(frozen=True)
class Scope:
    """The names a rule may use: parameter name -> its type ("int" or "float")."""

    params: Mapping[str, Literal["int", "float"]]
    allow_series: bool = True

    def names_text(self) -> str:
        names = [*self.params, *(SERIES if self.allow_series else ())]
        return ", ".join(names) if names else "none"


def parse_rule(text: object, field: str, scope: Scope) -> Node:
    """`text` as a boolean rule over `scope`, or ExpressionError saying what and where."""
    if not isinstance(text, str):
        raise ExpressionError(field, "must be a string holding an expression")
    if len(text) > MAX_RULE_CHARS:
        raise ExpressionError(field, f"is longer than {MAX_RULE_CHARS} characters")
    if not text.strip():
        raise ExpressionError(field, "is empty")
    lead = len(text) - len(text.lstrip())  # columns count from the text as written
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "invalid decimal literal" on `1and`
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        column = (exc.offset or 1) + lead
        raise ExpressionError(field, f"syntax error at column {column}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(field, "is nested too deeply") from None
    count = sum(1 for _ in ast.walk(tree)) - 1  # the Expression wrapper is not a node
    if count > MAX_RULE_NODES:
        raise ExpressionError(field, f"has {count} nodes; at most {MAX_RULE_NODES} are allowed")
    node = _Reader(field, scope, lead).read(tree.body)
    if kind_of(node) != "boolean":
        raise ExpressionError(field, "must be a condition (a comparison, crosses_*, and/or/not)")
    return node


class _Reader:
    """Turns an `ast` tree into nodes, accepting only what the language defines."""

    def __init__(self, field: str, scope: Scope, lead: int) -> None:
        self.field = field
        self.scope = scope
        self.lead = lead

    def fail(self, at: ast.AST, message: str) -> ExpressionError:
        column = getattr(at, "col_offset", 0) + 1 + self.lead
        return ExpressionError(self.field, f"{message} (column {column})")

    def read(self, at: ast.expr) -> Node:
        reader = self._readers().get(type(at))
        if reader is None:
            raise self.fail(at, f"{_describe(at)} is not allowed")
        return reader(at)

    def _readers(self) -> dict[type[ast.AST], Callable[[ast.expr], Node]]:
        return {
            ast.Constant: self._constant,
            ast.Name: self._name,
            ast.UnaryOp: self._unary,
            ast.BinOp: self._binary,
            ast.Compare: self._compare,
            ast.BoolOp: self._boolean,
            ast.Call: self._call,
        }

    def _constant(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.Constant)
        value = at.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(at, f"{_describe(at)} is not allowed; only numbers are")
        if isinstance(value, int) and abs(value) > 2**63 - 1:
            raise self.fail(at, "number is too large")
        if not math.isfinite(float(value)):
            raise self.fail(at, "number is too large")
        return Number(float(value))

    def _name(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.Name)
        if at.id in self.scope.params:
            return Param(at.id)
        if self.scope.allow_series and at.id in SERIES:
            return Series(at.id)
        if at.id in FUNCTIONS:
            raise self.fail(at, f"{at.id} is a function; call it as {at.id}(...)")
        raise self.fail(at, f"unknown name {at.id!r}; known: {self.scope.names_text()}")

    def _unary(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.UnaryOp)
        operand = self.read(at.operand)
        if isinstance(at.op, ast.USub):
            self._expect(at.operand, operand, "number")
            return Negate(operand)
        if isinstance(at.op, ast.UAdd):
            self._expect(at.operand, operand, "number")
            return operand
        if isinstance(at.op, ast.Not):
            self._expect(at.operand, operand, "boolean")
            return Not(operand)
        raise self.fail(at, "the operator ~ is not allowed")

    def _binary(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.BinOp)
        op = _ARITHMETIC.get(type(at.op))
        if op is None:
            raise self.fail(at, f"the operator {_operator(at.op)} is not allowed; use + - * /")
        left, right = self.read(at.left), self.read(at.right)
        self._expect(at.left, left, "number")
        self._expect(at.right, right, "number")
        return Arithmetic(op, left, right)

    def _compare(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.Compare)
        # a < b < c means a < b and b < c, as in Python.
        terms = [self.read(at.left), *(self.read(c) for c in at.comparators)]
        for source, term in zip([at.left, *at.comparators], terms, strict=True):
            self._expect(source, term, "number")
        pairs: list[Node] = []
        for index, op_node in enumerate(at.ops):
            op = _COMPARISONS.get(type(op_node))
            if op is None:
                raise self.fail(at, "only < <= > >= == != compare")
            pairs.append(Comparison(op, terms[index], terms[index + 1]))
        return pairs[0] if len(pairs) == 1 else Logical("and", tuple(pairs))

    def _boolean(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.BoolOp)
        operands = tuple(self.read(v) for v in at.values)
        for source, operand in zip(at.values, operands, strict=True):
            self._expect(source, operand, "boolean")
        return Logical("and" if isinstance(at.op, ast.And) else "or", operands)

    def _call(self, at: ast.expr) -> Node:
        assert isinstance(at, ast.Call)
        if not isinstance(at.func, ast.Name):
            raise self.fail(at, "only the language's functions can be called")
        name = at.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            known = ", ".join(FUNCTIONS)
            raise self.fail(at, f"unknown function {name!r}; known: {known}")
        if at.keywords:
            raise self.fail(at, f"{name} takes positional arguments only")
        if len(at.args) != len(function.args):
            raise self.fail(at, f"{name} takes {len(function.args)} arguments, not {len(at.args)}")
        args = []
        for source, arg_kind in zip(at.args, function.args, strict=True):
            if isinstance(source, ast.Starred):
                raise self.fail(source, "* arguments are not allowed")
            arg = self.read(source)
            self._expect(source, arg, "number")
            if arg_kind != "x" and not self._constant_integer(arg):
                what = "a shift" if arg_kind == "k" else "a window"
                raise self.fail(
                    source,
                    f"{what} of {name} must be a constant integer: a literal, an int "
                    "parameter, or arithmetic of them",
                )
            args.append(arg)
        return Call(name, tuple(args))

    def _constant_integer(self, node: Node) -> bool:
        if isinstance(node, Number):
            return node.value.is_integer()
        if isinstance(node, Param):
            return self.scope.params[node.name] == "int"
        if isinstance(node, Negate):
            return self._constant_integer(node.operand)
        if isinstance(node, Arithmetic):
            return self._constant_integer(node.left) and self._constant_integer(node.right)
        return False

    def _expect(self, source: ast.expr, node: Node, kind: Kind) -> None:
        if kind_of(node) != kind:
            wanted = "a number or series" if kind == "number" else "a condition"
            raise self.fail(source, f"expected {wanted} here")


def kind_of(node: Node) -> Kind:
    if isinstance(node, Comparison | Logical | Not):
        return "boolean"
    if isinstance(node, Call):
        return FUNCTIONS[node.function].returns
    return "number"


def _describe(at: ast.AST) -> str:
    if isinstance(at, ast.Constant):
        return f"the constant {at.value!r}"
    if isinstance(at, ast.Attribute):
        return "attribute access"
    if isinstance(at, ast.Subscript):
        return "subscripting"
    if isinstance(at, ast.Lambda):
        return "a lambda"
    return f"{type(at).__name__} syntax"


def _operator(op: ast.operator) -> str:
    symbols = {ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@"}
    return symbols.get(type(op), type(op).__name__)


def nodes(node: Node) -> Iterator[Node]:
    """`node` and every node below it, parents first."""
    yield node
    children: tuple[Node, ...] = ()
    if isinstance(node, Negate | Not):
        children = (node.operand,)
    elif isinstance(node, Arithmetic | Comparison):
        children = (node.left, node.right)
    elif isinstance(node, Logical):
        children = node.operands
    elif isinstance(node, Call):
        children = node.args
    for child in children:
        yield from nodes(child)


def constant_value(node: Node, params: Mapping[str, float]) -> float | None:
    """The value of a node made of numbers and parameters only, else None.

    Division by zero gives None, as a missing value would.
    """
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Param):
        return float(params[node.name])
    if isinstance(node, Negate):
        inner = constant_value(node.operand, params)
        return None if inner is None else -inner
    if isinstance(node, Arithmetic):
        left, right = constant_value(node.left, params), constant_value(node.right, params)
        if left is None or right is None:
            return None
        if node.op == "/":
            return None if right == 0 else left / right
        return left + right if node.op == "+" else left - right if node.op == "-" else left * right
    return None


def holds_for(rule: Node, params: Mapping[str, float]) -> bool:
    """Whether a rule over parameters only holds (an undefined comparison does not)."""
    if isinstance(rule, Comparison):
        left, right = constant_value(rule.left, params), constant_value(rule.right, params)
        if left is None or right is None:
            return False
        return _COMPARE[rule.op](left, right)
    if isinstance(rule, Logical):
        results = (holds_for(o, params) for o in rule.operands)
        return all(results) if rule.op == "and" else any(results)
    if isinstance(rule, Not):
        return not holds_for(rule.operand, params)
    return False


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def window_value(node: Node, params: Mapping[str, float], minimum: int) -> int | None:
    """A window argument at these parameters, or None when it is not in minimum..MAX_WINDOW."""
    value = constant_value(node, params)
    if value is None or not value.is_integer() or not minimum <= value <= MAX_WINDOW:
        return None
    return int(value)


def windows_text(minimum: int) -> str:
    return f"{minimum}..{MAX_WINDOW}"
