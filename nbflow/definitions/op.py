"""``@op`` and what it is made of: ``In``, ``Out``, ``DynamicOut``, outputs, retries.

An op is a Python function plus declared inputs and outputs. Defining one runs no
user code. Calling an op inside a ``@job``/``@graph`` body wires it (see
``compose``); calling it anywhere else runs the function directly, which is how ops
are unit-tested.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from nbflow.errors import DefinitionError
from nbflow.partitions.keys import validate_key

_NO_VALUE = object()
DEFAULT_OUTPUT = "result"

#: The newest definition of every op, by where it was defined: re-running a cell
#: that defines an op replaces it here, and reruns pick up the fix.
OPS: dict[tuple[str, str, str], OpDefinition] = {}
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

    def __repr__(self) -> str:
        return f"DynamicOutput({self.value!r}, mapping_key={self.mapping_key!r})"


class RetryPolicy:
    """Retry a failing step up to ``max_retries`` more times, ``delay`` seconds apart.

    ``backoff`` multiplies the delay after each attempt (1 keeps it constant).
    """

    def __init__(self, max_retries: int = 1, delay: float | None = None, backoff: float = 1.0) -> None:
        if not isinstance(max_retries, int) or max_retries < 0:
            raise DefinitionError(f"RetryPolicy.max_retries must be an int >= 0, got {max_retries!r}.")
        if delay is not None and delay < 0:
            raise DefinitionError(f"RetryPolicy.delay must be >= 0 seconds, got {delay!r}.")
        self.max_retries = max_retries
        self.delay = delay or 0.0
        self.backoff = backoff

    def delay_before(self, retry_number: int) -> float:
        return self.delay * (self.backoff ** max(retry_number - 1, 0))

    def __repr__(self) -> str:
        return f"RetryPolicy(max_retries={self.max_retries}, delay={self.delay})"


def _takes_context(params: list[inspect.Parameter]) -> bool:
    if not params:
        return False
    first = params[0]
    annotation = first.annotation
    ann_name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return first.name in _CONTEXT_NAMES or str(ann_name).endswith("Context")


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
    ) -> None:
        from nbflow.definitions.config import normalize_schema
        from nbflow.partitions.keys import validate_name

        self.fn = fn
        self.name = validate_name(name or fn.__name__, "op name", DefinitionError)
        self.description = description or inspect.getdoc(fn)
        self.config_schema = None if config_schema is None else normalize_schema(config_schema)
        self.retry_policy = retry_policy
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.outs = _normalize_outs(out)
        self.is_generator = inspect.isgeneratorfunction(fn)
        params = list(inspect.signature(fn).parameters.values())
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise DefinitionError(f"op '{self.name}': *args/**kwargs are not supported as inputs ({p}).")
        self.takes_context = _takes_context(params)
        input_params = params[1:] if self.takes_context else params
        self.ins = self._build_ins(input_params, dict(ins or {}))
        if any(o.is_dynamic for o in self.outs.values()) and not self.is_generator:
            raise DefinitionError(
                f"op '{self.name}' declares a DynamicOut, so its body must `yield "
                f"DynamicOutput(value, mapping_key=...)` for each item (it returns instead)."
            )
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
        return invoke_directly(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<op {self.name}({', '.join(self.ins)}) -> {', '.join(self.outs)}>"


def invoke_directly(op_def: OpDefinition, args: tuple, kwargs: dict) -> Any:
    """Run the op body outside a job, for unit tests: ``my_op(build_op_context(), x)``."""
    if op_def.takes_context:
        from nbflow.execution.context import OpExecutionContext, build_op_context

        if args and isinstance(args[0], OpExecutionContext):
            return op_def.fn(*args, **kwargs)
        return op_def.fn(build_op_context(), *args, **kwargs)
    return op_def.fn(*args, **kwargs)


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
) -> Any:
    """Define an op, bare (``@op``) or with options (``@op(out=DynamicOut())``).

    Examples
    --------
    >>> @op
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(21)
    42
    """

    def decorate(f: Callable[..., Any]) -> OpDefinition:
        return OpDefinition(f, name, ins, out, config_schema, retry_policy, tags, description)

    return decorate(fn) if fn is not None else decorate
