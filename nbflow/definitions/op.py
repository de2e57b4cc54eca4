"""``@op`` and what it is made of: ``In``, ``Out``, ``DynamicOut``, outputs, retries.

An op is a Python function plus declared inputs and outputs. Defining one runs no
user code. Calling an op inside a ``@job``/``@graph`` body wires it (see
``compose``); calling it anywhere else runs the function directly, which is how ops
are unit-tested.
"""

from __future__ import annotations

import enum
import inspect
import random
from collections.abc import Callable, Mapping
from typing import Any, overload

from nbflow import hooks
from nbflow._state import STATE
from nbflow.errors import DefinitionError
from nbflow.partitions.keys import validate_key

_NO_VALUE = object()
DEFAULT_OUTPUT = "result"

#: The newest definition of every op, by where it was defined: re-running a cell
#: that defines an op replaces it here, and reruns pick up the fix.
OPS: dict[tuple[str, str, str], OpDefinition] = STATE.ops
_CONTEXT_NAMES = ("context", "_context", "_", "ctx")


class Out:
    """A static output of an op.

    Parameters
    ----------
    dagster_type:
        Optional Python class the value must be an instance of.
    is_required:
        If False, the op may not produce it; its consumers are then skipped.
    """

    is_dynamic = False

    def __init__(
        self,
        dagster_type: Any = None,
        description: str | None = None,
        is_required: bool = True,
        metadata: Mapping[str, Any] | None = None,
        io_manager_key: str | None = None,
        code_version: str | None = None,
    ) -> None:
        self.dagster_type = dagster_type
        self.description = description
        self.is_required = is_required
        self.metadata = dict(metadata or {})
        self.io_manager_key = io_manager_key
        self.code_version = code_version


class DynamicOut(Out):
    """An output yielded several times, once per :class:`DynamicOutput` (fan-out).

    With ``is_required=False`` and no items, the collecting step is skipped;
    with the default ``True``, ``collect()`` then receives ``[]``.

    Examples
    --------
    >>> @op(out=DynamicOut())
    ... def emit():
    ...     for i in range(3):
    ...         yield DynamicOutput(i, mapping_key=f"k{i}")
    """

    is_dynamic = True


class In:
    """An input of an op: an optional type check, default value and description."""

    def __init__(
        self,
        dagster_type: Any = None,
        description: str | None = None,
        default_value: Any = _NO_VALUE,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.dagster_type = dagster_type
        self.description = description
        self.default_value = default_value
        self.metadata = dict(metadata or {})

    @property
    def has_default(self) -> bool:
        return self.default_value is not _NO_VALUE


class Output:
    """A value for a named output, returned or yielded by an op body."""

    __slots__ = ("metadata", "output_name", "value")

    def __init__(
        self, value: Any, output_name: str = DEFAULT_OUTPUT, metadata: Mapping[str, Any] | None = None
    ) -> None:
        self.value = value
        self.output_name = output_name
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"Output({self.value!r}, output_name={self.output_name!r})"


class DynamicOutput:
    """One item of a fan-out: a value and the ``mapping_key`` naming it.

    The key is any non-empty str of at most 255 characters without control
    characters; it is checked here, so a bad key fails the producing step.
    """

    __slots__ = ("mapping_key", "metadata", "output_name", "value")

    def __init__(
        self,
        value: Any,
        mapping_key: str,
        output_name: str = DEFAULT_OUTPUT,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.value = value
        self.mapping_key = validate_key(mapping_key, "mapping key")
        self.output_name = output_name
        self.metadata = metadata

    def __class_getitem__(cls, item: Any) -> Any:
        # ``DynamicOutput[str]`` in annotations (``-> list[DynamicOutput[str]]``), as in Dagster.
        import types

        return types.GenericAlias(cls, item)

    def __repr__(self) -> str:
        return f"DynamicOutput({self.value!r}, mapping_key={self.mapping_key!r})"


class Backoff(enum.Enum):
    """How the delay between retries grows (Dagster's enum)."""

    LINEAR = "LINEAR"
    EXPONENTIAL = "EXPONENTIAL"


class Jitter(enum.Enum):
    """Random variation of the delay between retries (Dagster's enum)."""

    FULL = "FULL"
    PLUS_MINUS = "PLUS_MINUS"


class RetryPolicy:
    """Retry a failing step up to ``max_retries`` more times, waiting ``delay`` seconds first.

    ``backoff`` grows the delay: ``Backoff.LINEAR`` waits ``delay * n`` before the n-th retry,
    ``Backoff.EXPONENTIAL`` ``delay * (2**n - 1)``. ``jitter`` varies it: ``Jitter.FULL`` picks
    a random delay between 0 and the computed one, ``Jitter.PLUS_MINUS`` adds up to ``delay``
    either way. A number for ``backoff`` multiplies the delay after each attempt.

    Examples
    --------
    >>> RetryPolicy(max_retries=3, delay=0.5, backoff=Backoff.EXPONENTIAL).delay_before(3)
    3.5
    """

    def __init__(self, max_retries: int = 1, delay: float | None = None,
                 backoff: Backoff | float | None = None, jitter: Jitter | None = None) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise DefinitionError(f"RetryPolicy.max_retries must be an int >= 0, got {max_retries!r}.")
        if delay is not None and (not isinstance(delay, int | float) or delay < 0):
            raise DefinitionError(f"RetryPolicy.delay must be a number of seconds >= 0, got {delay!r}.")
        if backoff is not None and not isinstance(backoff, Backoff | int | float):
            raise DefinitionError(f"RetryPolicy.backoff must be Backoff.LINEAR, Backoff.EXPONENTIAL or a number, got {backoff!r}.")
        if jitter is not None and not isinstance(jitter, Jitter):
            raise DefinitionError(f"RetryPolicy.jitter must be Jitter.FULL or Jitter.PLUS_MINUS, got {jitter!r}.")
        if (backoff is not None or jitter is not None) and delay is None:
            raise DefinitionError("RetryPolicy: backoff and jitter need a delay; pass delay=<seconds> as well.")
        self.max_retries = max_retries
        self.delay = float(delay or 0.0)
        self.backoff = backoff
        self.jitter = jitter

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        n = max(retry_number, 1)
        if self.backoff is Backoff.EXPONENTIAL:
            wait: float = self.delay * (2**n - 1)
        elif self.backoff is Backoff.LINEAR:
            wait = self.delay * n
        elif isinstance(self.backoff, int | float):
            wait = self.delay * (self.backoff ** (n - 1))
        else:
            wait = self.delay
        if self.jitter is Jitter.FULL:
            wait = random.random() * wait
        elif self.jitter is Jitter.PLUS_MINUS:
            wait = max(0.0, wait + (2 * random.random() - 1) * self.delay)
        return wait

    def __repr__(self) -> str:
        extra = "".join(f", {n}={v!r}" for n, v in (("backoff", self.backoff), ("jitter", self.jitter)) if v is not None)
        return f"RetryPolicy(max_retries={self.max_retries}, delay={self.delay}{extra})"


def _takes_context(params: list[inspect.Parameter]) -> bool:
    if not params:
        return False
    first = params[0]
    annotation = first.annotation
    ann_name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return first.name in _CONTEXT_NAMES or str(ann_name).endswith("Context")


def _outs_from_annotation(fn: Callable[..., Any]) -> Any:
    """``-> list[DynamicOutput[T]]`` (or an iterator of them) declares a DynamicOut, as in Dagster."""
    import typing

    try:
        annotation = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolvable string annotations: no inference
        return None
    args = typing.get_args(annotation)
    if args and (args[0] is DynamicOutput or typing.get_origin(args[0]) is DynamicOutput):
        return DynamicOut()
    return None


def _dynamic_body(fn: Callable[..., Any], op_name: str, outs: dict[str, Out]) -> Callable[..., Any]:
    """The body of an op with a DynamicOut, as a generator that checks what it yields.

    Dagster lets such an op yield its DynamicOutputs or return a list of them; a
    duplicate mapping key or an ``Output`` for a dynamic output fails the step with
    Dagster's message.
    """
    import functools

    from nbflow.errors import DagsterInvariantViolationError, DuplicateMappingKeyError

    dynamic = {name for name, o in outs.items() if o.is_dynamic}

    def items(result: Any) -> Any:
        if inspect.isgenerator(result):
            return result
        if result is None:
            return ()
        if isinstance(result, (DynamicOutput, Output)):
            return (result,)
        if isinstance(result, (list, tuple)):
            return result
        raise DagsterInvariantViolationError(
            f'Compute for op "{op_name}" for output "{next(iter(dynamic))}" defined as dynamic '
            f"must yield DynamicOutput, got {type(result).__name__}. Yield (or return a list of) "
            "DynamicOutput(value, mapping_key=...)."
        )

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> Any:
        seen: dict[str, set[str]] = {}
        for item in items(fn(*args, **kwargs)):
            if isinstance(item, DynamicOutput):
                keys = seen.get(item.output_name)
                if keys is None:  # not setdefault: that makes and drops a set for every item
                    keys = seen[item.output_name] = set()
                if item.mapping_key in keys:
                    raise DuplicateMappingKeyError(
                        f'Compute for op "{op_name}" yielded a DynamicOutput with mapping_key '
                        f'"{item.mapping_key}" multiple times. Mapping keys must be unique within one step.'
                    )
                keys.add(item.mapping_key)
            elif not isinstance(item, Output) or item.output_name in dynamic:
                raise DagsterInvariantViolationError(
                    f'Compute for op "{op_name}" for output "{getattr(item, "output_name", next(iter(dynamic)))}" '
                    f"defined as dynamic must yield DynamicOutput, got {type(item).__name__}. Yield (or "
                    "return a list of) DynamicOutput(value, mapping_key=...)."
                )
            yield item

    body.__nbflow_body__ = fn  # type: ignore[attr-defined]  # called as is outside a job
    return body


def _plain_output(outs: dict[str, Out]) -> str | None:
    if len(outs) != 1:
        return None
    name, out = next(iter(outs.items()))
    plain = not out.is_dynamic and out.is_required and out.dagster_type is None
    return name if plain else None


def _normalize_outs(out: Any) -> dict[str, Out]:
    if out is None:
        return {DEFAULT_OUTPUT: Out()}
    if isinstance(out, Out):
        return {DEFAULT_OUTPUT: out}
    if isinstance(out, Mapping):
        for name, value in out.items():
            if not isinstance(value, Out):
                raise DefinitionError(f"out={{{name!r}: {value!r}}}: each output must be Out() or DynamicOut().")
        return dict(out)
    raise DefinitionError(f"out= must be Out(), DynamicOut() or a dict of them, got {out!r}.")


class OpDefinition:
    """A defined op. Create with :func:`op`; call it inside a job body to wire it."""

    is_asset = False

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        ins: Mapping[str, In] | None = None,
        out: Any = None,
        config_schema: Any = None,
        retry_policy: RetryPolicy | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        pool: str | None = None,
    ) -> None:
        from nbflow.definitions.config import normalize_schema
        from nbflow.partitions.keys import validate_name

        self.fn = fn
        self.name = validate_name(name or fn.__name__, "op name", DefinitionError)
        self.description = description or inspect.getdoc(fn)
        self.config_schema = None if config_schema is None else normalize_schema(config_schema)
        self.retry_policy = retry_policy
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if pool is not None and (not isinstance(pool, str) or not pool):
            raise DefinitionError(f"op '{self.name}': pool must be a non-empty str naming a concurrency pool, got {pool!r}.")
        self.pool = pool
        self.outs = _normalize_outs(out if out is not None else _outs_from_annotation(fn))
        # An async generator is a fan-out written with `async def ... yield`.
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        if any(o.is_dynamic for o in self.outs.values()) and not self.is_async:
            fn = _dynamic_body(fn, self.name, self.outs)
            self.fn = fn
        self.is_generator = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        # The one output of an op whose return value is that output as it is (one static,
        # required output without a declared type): a step of it needs no per-output checks.
        self.plain_output = None if self.is_generator else _plain_output(self.outs)
        params = list(inspect.signature(fn).parameters.values())
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise DefinitionError(f"op '{self.name}': *args/**kwargs are not supported as inputs ({p}).")
        self.takes_context = _takes_context(params)
        input_params = params[1:] if self.takes_context else params
        self.ins = self._build_ins(input_params, dict(ins or {}))
        OPS[self.registry_key] = self

    @property
    def registry_key(self) -> tuple[str, str, str]:
        return (getattr(self.fn, "__module__", "") or "", getattr(self.fn, "__qualname__", ""), self.name)

    def latest(self) -> OpDefinition:
        """The newest op defined with the same function name and module (itself if none)."""
        return OPS.get(self.registry_key, self)

    def _build_ins(self, params: list[inspect.Parameter], ins: dict[str, In]) -> dict[str, In]:
        names = [p.name for p in params]
        unknown = sorted(set(ins) - set(names))
        if unknown:
            raise DefinitionError(
                f"op '{self.name}': ins= names {unknown} that are not parameters of the function ({names})."
            )
        result = {}
        for p in params:
            spec = ins.get(p.name) or In()
            if p.default is not p.empty and not spec.has_default:
                spec = In(spec.dagster_type, spec.description, p.default, spec.metadata)
            result[p.name] = spec
        return result

    @property
    def output_names(self) -> list[str]:
        return list(self.outs)

    def alias(self, name: str) -> OpDefinition:
        """This op under another node name (to use it twice in one job)."""
        from nbflow.definitions.compose import AliasedOp

        return AliasedOp(self, name)  # type: ignore[return-value]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from nbflow.definitions import compose

        if compose.is_composing():
            return compose.invoke(self, self.name, args, kwargs)
        # Outside a job body the op's function runs now (how ops are unit-tested): running
        # user code is the execution layer's, reached through the installed runtime.
        return hooks.runtime().invoke_op(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<op {self.name}({', '.join(self.ins)}) -> {', '.join(self.outs)}>"


def _placeholder_fan_in() -> None:
    """Stands in for a fan-in node's body while its op is built (see fan_in_op)."""


def gather_inputs(**values: Any) -> list[Any]:
    """The body of a fan-in node: its inputs ``i0, i1, ...`` as one list, in order."""
    return [values[f"i{n}"] for n in range(len(values))]


def fan_in_op(count: int) -> OpDefinition:
    """An op taking ``count`` inputs and returning them as a list (a job body's fan-in node)."""
    op_def = OpDefinition(_placeholder_fan_in, name="fan_in")
    op_def.fn = gather_inputs
    op_def.ins = {f"i{n}": In() for n in range(count)}
    op_def.latest = lambda: op_def  # type: ignore[method-assign]  # never swapped for a newer one
    return op_def


# The decorator's two forms, for type checkers: ``@op`` gives an OpDefinition, ``@op(...)`` a
# decorator that makes one. (An op keeps no ParamSpec of its function: called in a job body it
# takes and returns output handles, not the function's values.)
@overload
def op(
    fn: Callable[..., Any],
    *,
    name: str | None = ...,
    ins: Mapping[str, In] | None = ...,
    out: Any = ...,
    config_schema: Any = ...,
    retry_policy: RetryPolicy | None = ...,
    tags: Mapping[str, Any] | None = ...,
    description: str | None = ...,
    pool: str | None = ...,
) -> OpDefinition: ...


@overload
def op(
    fn: None = ...,
    *,
    name: str | None = ...,
    ins: Mapping[str, In] | None = ...,
    out: Any = ...,
    config_schema: Any = ...,
    retry_policy: RetryPolicy | None = ...,
    tags: Mapping[str, Any] | None = ...,
    description: str | None = ...,
    pool: str | None = ...,
) -> Callable[[Callable[..., Any]], OpDefinition]: ...


def op(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    ins: Mapping[str, In] | None = None,
    out: Any = None,
    config_schema: Any = None,
    retry_policy: RetryPolicy | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> OpDefinition | Callable[[Callable[..., Any]], OpDefinition]:
    """Define an op, bare (``@op``) or with options (``@op(out=DynamicOut())``).

    ``pool`` names a concurrency pool: at most the pool's limit of its steps run at once
    (``nbflow.instance().set_pool_limit("api", 4)``). ``async def`` ops run concurrently on an
    event loop.

    Examples
    --------
    >>> @op
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(21)
    42
    """

    def decorate(f: Callable[..., Any]) -> OpDefinition:
        return OpDefinition(f, name, ins, out, config_schema, retry_policy, tags, description, pool)

    return decorate(fn) if fn is not None else decorate
