"""A user's energy E(x, y) as text, turned into a torch function without ``eval``.

The text is parsed by Python's ``ast`` and every node is checked against a whitelist: numbers, the variables ``x``
and ``y``, the constants ``pi`` and ``e``, ``+ - * / **``, unary ``-``/``+``, and one-argument calls of the
functions in ``FUNCTIONS``. Anything else (names, attributes, subscripts, lambdas, comparisons, keyword arguments,
strings …) is refused with the offending piece named. The checked tree is then walked on tensors, so every number is
a tensor and an overflow gives ``inf`` instead of a hang or an exception.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

import torch

import playground as pg

MAX_LENGTH = 400
MAX_NODES = 200
FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs, "sin": torch.sin, "cos": torch.cos,
    "tanh": torch.tanh, "cosh": torch.cosh, "sinh": torch.sinh, "log1p": torch.log1p, "softplus":
    torch.nn.functional.softplus,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("x", "y")
OPERATORS: dict[type, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div, ast.Pow: torch.pow,
}
ALLOWED = ("numbers, x, y, pi, e, + - * / ** and " + ", ".join(f"{f}()" for f in FUNCTIONS))

Energy = Callable[[torch.Tensor], torch.Tensor]


def _refuse(text: str, why: str) -> pg.ConfigError:
    return pg.ConfigError(f"Energy {text!r}: {why}. Allowed: {ALLOWED}.")


def _check(node: ast.AST, text: str) -> None:
    """Raise unless every node of the tree is on the whitelist."""
    match node:
        case ast.Expression(body=body):
            _check(body, text)
        case ast.Constant(value=v) if isinstance(v, (int, float)) and not isinstance(v, bool):
            pass
        case ast.Name(id=name) if name in VARIABLES or name in CONSTANTS:
            pass
        case ast.BinOp(left=left, op=op, right=right) if type(op) in OPERATORS:
            _check(left, text)
            _check(right, text)
        case ast.UnaryOp(op=ast.USub() | ast.UAdd(), operand=operand):
            _check(operand, text)
        case ast.Call(func=ast.Name(id=name), args=[arg], keywords=[]) if name in FUNCTIONS:
            _check(arg, text)
        case ast.Call(func=ast.Name(id=name)) if name in FUNCTIONS:
            raise _refuse(text, f"{name}() takes exactly one argument")
        case ast.Call(func=ast.Name(id=name)):
            raise _refuse(text, f"unknown function {name!r}")
        case ast.Name(id=name):
            raise _refuse(text, f"unknown name {name!r}")
        case _:
            raise _refuse(text, f"{ast.unparse(node)!r} is not allowed")


def _evaluate(node: ast.AST, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    match node:
        case ast.Expression(body=body):
            return _evaluate(body, x, y)
        case ast.Constant(value=v):
            return torch.full_like(x, float(v))
        case ast.Name(id="x"):
            return x
        case ast.Name(id="y"):
            return y
        case ast.Name(id=name):
            return torch.full_like(x, CONSTANTS[name])
        case ast.BinOp(left=left, op=op, right=right):
            return OPERATORS[type(op)](_evaluate(left, x, y), _evaluate(right, x, y))
        case ast.UnaryOp(op=op, operand=operand):
            value = _evaluate(operand, x, y)
            return -value if isinstance(op, ast.USub) else value
        case ast.Call(func=ast.Name(id=name), args=[arg]):
            return FUNCTIONS[name](_evaluate(arg, x, y))
    raise AssertionError(f"unchecked node {node!r}")  # _check let something through: a bug here, not user input


def parse_energy(text: str) -> Energy:
    """``text`` (e.g. ``"(x**2 + y**2 - 4)**2 / 0.5"``) as a function of N×2 points giving N energies."""
    text = (text or "").strip()
    if not text:
        raise pg.ConfigError(f"The energy expression is empty. Write E(x, y), e.g. (x**2 + y**2 - 4)**2. Allowed: "
                          f"{ALLOWED}.")
    if len(text) > MAX_LENGTH:
        raise pg.ConfigError(f"The energy expression is {len(text)} characters; at most {MAX_LENGTH}.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _refuse(text, f"not a formula ({exc.msg})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise _refuse(text, f"more than {MAX_NODES} pieces")
    _check(tree, text)

    def energy(xy: torch.Tensor) -> torch.Tensor:
        return _evaluate(tree, xy[..., 0], xy[..., 1])

    return energy
