"""What one render may cost: output size, the size of what the sandbox builds, and time.

Jinja2's sandbox keeps templates away from Python's internals, not from the machine's memory:
``{{ 'a' * 100000000 }}`` builds 100 MB in one step and ``{% for %}`` over ``range`` inside
another runs for hours. A marketer's typo must fail that email, never the daemon, so:

- every operation that can multiply a size (``*``, ``+``, ``~``, ``%``, ``**``, ``str.format``,
  the growing string methods and filters) is checked against :attr:`RenderLimits.max_chars`
  *before* it allocates, so no single step builds more than the limit;
- output is counted as it is produced, in slices, and the render stops past the limit;
- loops count their turns on one budget per render and look at the thread's CPU clock every few
  hundred turns, so nested loops stop at :attr:`RenderLimits.seconds` of processor time.

All of it runs in the rendering thread (no watchdog thread per render): a check costs a
comparison, and the clock is read once per render and every 256 loop turns.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from time import thread_time
from typing import Any

from jinja2 import Environment, TemplateError
from jinja2.nodes import EvalContext

MAX_INT_BITS = 4096  # a number in an email has a few digits; this is 1,233 of them


class RenderLimitExceeded(TemplateError):
    """A template went over a render limit; the message names the limit and its setting.

    A template error like any other: wherever a failing workspace template falls back to
    nurture's own (sales emails, pages, the opt-in confirmation), one over a limit does too."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    max_chars: int = 1_000_000
    """Characters one rendered part (subject, HTML, text) may have; also the largest string or
    list the template may build on the way (setting ``render_max_chars``)."""
    seconds: float = 1.0
    """Processor time one render may take (setting ``render_time_limit``). The render's own
    thread's CPU time, not the wall clock: on a busy machine a render that waits for a core is
    not a runaway template, and failing it would fail an MQL's routing or a form's page."""


DEFAULT_LIMITS = RenderLimits()


class RenderBudget:
    """One render's allowance: its deadline and the loop turns left before the clock is read."""

    __slots__ = ("deadline", "limits", "turns")

    CHECK_EVERY = 256

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = thread_time() + limits.seconds
        self.turns = self.CHECK_EVERY

    def check_time(self) -> None:
        self.turns = self.CHECK_EVERY
        if thread_time() > self.deadline:
            raise RenderLimitExceeded(
                f"rendering took longer than {self.limits.seconds:g} s (render_time_limit)"
            )

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.turns -= 1
            if self.turns <= 0:
                self.check_time()
            yield item


current_budget: ContextVar[RenderBudget | None] = ContextVar("nurture_render_budget", default=None)


def counted_loop(iterable: Iterable[Any]) -> Iterable[Any]:
    """What a template's ``{% for %}`` iterates: the iterable, counted against the render's budget."""
    budget = current_budget.get()
    return iterable if budget is None else budget.counted(iterable)


def too_large(limits: RenderLimits, size: int, what: str) -> RenderLimitExceeded:
    return RenderLimitExceeded(
        f"{what} would be {size:,} characters or items, over the limit of {limits.max_chars:,} "
        "(render_max_chars)"
    )


def check_size(limits: RenderLimits, size: int, what: str) -> None:
    if size > limits.max_chars:
        raise too_large(limits, size, what)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


def checked_binop(limits: RenderLimits, operator: str, left: Any, right: Any) -> None:
    """Refuse ``left operator right`` when its result would be over the limits; else return."""
    if operator == "*":
        if _is_sequence(left) and isinstance(right, int):
            check_size(limits, len(left) * max(right, 0), "a repeated value")
        elif _is_sequence(right) and isinstance(left, int):
            check_size(limits, len(right) * max(left, 0), "a repeated value")
        elif isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length())
    elif operator == "+":
        if _is_sequence(left) and _is_sequence(right):
            check_size(limits, len(left) + len(right), "a joined value")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            _check_bits(int(right * math.log2(abs(left))) + 1)
    elif operator == "%" and isinstance(left, str):
        check_printf_widths(limits, left, right if isinstance(right, tuple) else (right,))


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise RenderLimitExceeded(f"a number over {MAX_INT_BITS} bits is not computed in a template")


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def check_printf_widths(limits: RenderLimits, fmt: str, args: Iterable[Any]) -> None:
    """``fmt % args`` would pad to no width over the limit (``%0999999999d``, ``%*s``)."""
    if "%" not in fmt:
        return
    starred = False
    for width, precision in _PRINTF_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                starred = True
            elif number:
                check_size(limits, int(number), "a formatted value")
    if starred:
        for arg in args:
            if isinstance(arg, int):
                check_size(limits, arg, "a formatted value")


def check_format_widths(limits: RenderLimits, fmt: str, args: Iterable[Any]) -> None:
    """``fmt.format(...)`` would pad to no width over the limit (``{:>999999999}``)."""
    nested = False
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format will say what is wrong with it
    for _, _, spec, _ in parsed:
        if spec:
            nested = nested or "{" in spec
            for number in _DIGITS.findall(spec):
                check_size(limits, int(number), "a formatted value")
    if nested:
        for arg in args:
            if isinstance(arg, int):
                check_size(limits, arg, "a formatted value")


def check_str_method(limits: RenderLimits, text: str, name: str, args: tuple[Any, ...]) -> None:
    """Refuse a call of a growing ``str`` method whose result would be over the limit."""
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        check_size(limits, args[0], f"str.{name}()")
    elif name == "expandtabs" and args and isinstance(args[0], int):
        check_size(limits, len(text) + text.count("\t") * max(args[0], 0), "str.expandtabs()")
    elif name == "replace" and len(args) >= 2:
        check_replace(limits, text, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "join" and args:
        check_join(limits, text, args[0])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        check_size(limits, len(text) * longest, "str.translate()")


def check_replace(limits: RenderLimits, text: Any, old: Any, new: Any, count: Any) -> None:
    text, old, new = str(text), str(old), str(new)
    if len(new) <= len(old):
        return
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    check_size(limits, len(text) + found * (len(new) - len(old)), "a replaced value")


def check_join(limits: RenderLimits, separator: str, items: Any) -> None:
    if isinstance(items, (list, tuple)):
        total = len(separator) * len(items) + sum(len(x) for x in items if isinstance(x, str))
        check_size(limits, total, "a joined value")


def limited_filters(
    limits: RenderLimits, filters: dict[str, Callable[..., Any]]
) -> dict[str, Callable[..., Any]]:
    """The built-in filters that can make a value much larger than their input, with checks."""
    guarded: dict[str, Callable[..., Any]] = {}

    def guard(name: str, check: Callable[..., None]) -> None:
        original = filters[name]

        @wraps(original)  # keeps Jinja2's mark of what to pass first (environment, eval context)
        def checked(*args: Any, **kwargs: Any) -> Any:
            given = args
            while given and isinstance(given[0], (Environment, EvalContext)):
                given = given[1:]
            check(*given, **kwargs)
            return original(*args, **kwargs)

        guarded[name] = checked

    def center(value: Any, width: int = 80) -> None:
        if isinstance(width, int):
            check_size(limits, width, "the center filter")

    def indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
        lines = str(s).count("\n") + 1
        size = width if isinstance(width, int) else len(str(width))
        check_size(limits, len(str(s)) + lines * max(size, 0), "the indent filter")

    def batch_or_slice(value: Any, count: Any, fill_with: Any = None) -> None:
        if isinstance(count, int):
            check_size(limits, count, "the batch or slice filter")

    def replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
        check_replace(limits, s, old, new, -1 if count is None else count)

    def format_(value: Any, *args: Any, **kwargs: Any) -> None:
        check_printf_widths(limits, str(value), args)

    guard("center", center)
    guard("indent", indent)
    guard("batch", batch_or_slice)
    guard("slice", batch_or_slice)
    original_join = filters["join"]

    @wraps(original_join)
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = value if isinstance(value, (list, tuple)) else list(value)
        check_join(limits, str(d), items)
        return original_join(eval_ctx, items, d, attribute)

    guarded["join"] = join
    guard("replace", replace)
    guard("format", format_)
    return guarded


def limited_lipsum(limits: RenderLimits, lipsum: Callable[..., str]) -> Callable[..., str]:
    @wraps(lipsum)
    def checked(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        if isinstance(n, int) and isinstance(max, int):
            check_size(limits, n * max * 12, "lipsum()")
        return lipsum(n, html, min, max)

    return checked
