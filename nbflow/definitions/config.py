"""Op config schemas: plain types, ``Field``, and nested dicts of them.

``config_schema`` may be a type (``int``), a :class:`Field`, a list type
(``[str]`` or ``list[str]``), or a dict mapping field names to any of these.
Validation runs before a run starts and names the op and the field that is wrong.
"""

from __future__ import annotations

import typing
from typing import Any, cast

from nbflow.errors import ConfigError

_NO_DEFAULT = object()


class Field:
    """A config field with a type, an optional default and a description.

    Examples
    --------
    >>> Field(int, default_value=3, description="how many")
    Field(int, default_value=3)
    """

    def __init__(
        self,
        config: Any = Any,
        default_value: Any = _NO_DEFAULT,
        is_required: bool | None = None,
        description: str | None = None,
    ) -> None:
        self.config = normalize_schema(config)
        self.default_value = default_value
        self.has_default = default_value is not _NO_DEFAULT
        self.is_required = (not self.has_default) if is_required is None else is_required
        self.description = description

    def __repr__(self) -> str:
        default = f", default_value={self.default_value!r}" if self.has_default else ""
        return f"Field({describe(self.config)}{default})"


def normalize_schema(schema: Any) -> Any:
    """Turn user-facing schema forms into Fields, types, ``[T]`` lists and dicts."""
    if isinstance(schema, Field) or schema is Any:
        return schema
    if isinstance(schema, dict):
        return {name: sub if isinstance(sub, Field) else Field(sub) for name, sub in schema.items()}
    if isinstance(schema, list):
        if len(schema) != 1:
            raise ConfigError(f"A list config type is written [T] with one inner type, got {schema!r}.")
        return [normalize_schema(schema[0])]
    if typing.get_origin(schema) is list:
        (inner,) = typing.get_args(schema) or (Any,)
        return [normalize_schema(inner)]
    if isinstance(schema, type):
        return schema
    raise ConfigError(
        f"{schema!r} is not a config type. Use int, float, str, bool, list, dict, "
        f"[T], a dict of fields, or Field(...)."
    )


def describe(schema: Any) -> str:
    if schema is Any:
        return "Any"
    if isinstance(schema, Field):
        return describe(schema.config)
    if isinstance(schema, list):
        return f"[{describe(schema[0])}]"
    if isinstance(schema, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in schema.items()) + "}"
    return cast(str, schema.__name__)


def _type_ok(value: Any, typ: type) -> bool:
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


def resolve_config(schema: Any, value: Any, where: str) -> Any:
    """Check ``value`` against ``schema`` and fill defaults; ``where`` names the place."""
    if isinstance(schema, Field):
        if value is _NO_DEFAULT:
            if schema.has_default:
                return schema.default_value
            if schema.is_required:
                raise ConfigError(f"missing required config field '{where}' ({describe(schema)}).")
            return None
        return resolve_config(schema.config, value, where)
    if value is _NO_DEFAULT:
        raise ConfigError(f"missing required config field '{where}' ({describe(schema)}).")
    if schema is Any:
        return value
    if isinstance(schema, dict):
        return _resolve_dict(schema, value, where)
    if isinstance(schema, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config field '{where}' must be a list, got {value!r} ({type(value).__name__}).")
        return [resolve_config(schema[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not _type_ok(value, schema):
        raise ConfigError(
            f"config field '{where}' must be of type {schema.__name__}, "
            f"got {value!r} ({type(value).__name__})."
        )
    return value


def _resolve_dict(schema: dict[str, Field], value: Any, where: str) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"config field '{where}' must be a dict, got {value!r} ({type(value).__name__}).")
    unknown = sorted(set(value) - set(schema))
    if unknown:
        raise ConfigError(
            f"config{' field ' + repr(where) if where else ''} has unknown field(s) {unknown}; expected: {sorted(schema)}."
        )
    out = {}
    for name, field in schema.items():
        resolved = resolve_config(field, value.get(name, _NO_DEFAULT), f"{where}.{name}" if where else name)
        if resolved is not None or name in value or field.has_default:
            out[name] = resolved
    return out


def resolve_op_config(op_name: str, schema: Any, value: Any) -> Any:
    """Resolve the config of op ``op_name``; messages read ``field 'x' of op 'y'``."""
    if schema is None:
        return value
    if isinstance(schema, dict):
        try:
            return _resolve_dict(schema, value, "")
        except ConfigError as err:
            raise ConfigError(f"Op '{op_name}': {err}") from None
    missing = _NO_DEFAULT if value is None else value
    try:
        return resolve_config(schema if isinstance(schema, Field) else Field(schema), missing, "config")
    except ConfigError as err:
        raise ConfigError(f"Op '{op_name}': {err}") from None


def _flatten_ops(ops: Any, prefix: str, out: dict[str, Any]) -> None:
    if not isinstance(ops, dict):
        raise ConfigError(f"run_config 'ops'{' of ' + prefix if prefix else ''} must be a dict, got {ops!r}.")
    for name, entry in ops.items():
        full = f"{prefix}.{name}" if prefix else name
        if not isinstance(entry, dict):
            raise ConfigError(
                f"run_config for op '{full}' must be a dict like {{'config': {{...}}}}, got {entry!r}."
            )
        if "ops" in entry and "config" not in entry:
            _flatten_ops(entry["ops"], full, out)
            continue
        extra = sorted(set(entry) - {"config", "inputs"})
        if extra:
            raise ConfigError(
                f"run_config for op '{full}' has unknown key(s) {extra}; use {{'config': ...}} "
                "(and {'inputs': {...}} for input values)."
            )
        out[full] = entry.get("config")


def resolve_run_config(job: Any, run_config: dict[str, Any] | None) -> dict[str, Any]:
    """Check a whole run config against a job; return the resolved config per node.

    Everything is checked before anything runs: unknown ops, unknown top-level
    keys, and each op's fields (missing, wrong type, unknown).
    """
    from nbflow.errors import did_you_mean

    run_config = dict(run_config or {})
    unknown_top = sorted(set(run_config) - {"ops", "resources", "execution", "loggers"})
    if unknown_top:
        raise ConfigError(f"run_config has unknown top-level key(s) {unknown_top}; op config goes under 'ops'.")
    given: dict[str, Any] = {}
    _flatten_ops(run_config.get("ops", {}), "", given)
    for name in given:
        if name not in job.nodes:
            raise ConfigError(
                f"run_config names op '{name}', which is not in job '{job.name}'. "
                f"{did_you_mean(name, job.nodes)}"
            )
    resolved = {}
    for name, node in job.nodes.items():
        schema = node.op.config_schema
        if schema is None:  # as in Dagster, an op without a schema takes any config
            if given.get(name) is not None:
                resolved[name] = given[name]
            continue
        resolved[name] = resolve_op_config(name, schema, given.get(name))
    return resolved


def config_inputs(run_config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The input values a run config gives, by op: ``{"ops": {op: {"inputs": {name: value}}}}``.

    A value may be written plain or, as Dagster also accepts, ``{"value": v}``.
    """
    found: dict[str, dict[str, Any]] = {}

    def walk(ops: Any, prefix: str) -> None:
        if not isinstance(ops, dict):
            return
        for name, entry in ops.items():
            full = f"{prefix}.{name}" if prefix else name
            if not isinstance(entry, dict):
                continue
            if "ops" in entry and "config" not in entry:
                walk(entry["ops"], full)
            inputs = entry.get("inputs")
            if inputs is None:
                continue
            if not isinstance(inputs, dict):
                raise ConfigError(f"run_config 'inputs' of op '{full}' must be a dict of input values, got {inputs!r}.")
            found[full] = {k: (v["value"] if isinstance(v, dict) and set(v) == {"value"} else v)
                           for k, v in inputs.items()}

    walk(dict(run_config or {}).get("ops", {}), "")
    return found


def with_config_inputs(job: Any, run_config: dict[str, Any] | None) -> Any:
    """``job`` with the input values of ``run_config`` given to the ops as their defaults.

    Only inputs that no upstream op feeds can be given this way (as in Dagster); an input
    left unfed and without a value is an error naming it, raised before the run starts.
    """
    import copy
    from dataclasses import replace

    from nbflow.definitions.compose import DEFAULT, Binding
    from nbflow.errors import did_you_mean

    given = config_inputs(run_config)
    changed = {}
    for name, values in given.items():
        if name not in job.nodes:
            raise ConfigError(
                f"run_config gives inputs to op '{name}', which is not in job '{job.name}'. "
                f"{did_you_mean(name, job.nodes)}"
            )
        node = job.nodes[name]
        op = copy.copy(node.op)
        op.ins = dict(op.ins)
        for in_name, value in values.items():
            if in_name not in op.ins:
                raise ConfigError(
                    f"run_config gives input '{in_name}' to op '{name}', which has no such input; "
                    f"its inputs are {list(op.ins)}."
                )
            if node.inputs[in_name].kind != DEFAULT:
                raise ConfigError(
                    f"run_config gives input '{in_name}' of op '{name}', but that input is fed by "
                    f"op '{node.inputs[in_name].node}'. Only inputs no op feeds take values from config."
                )
            spec = op.ins[in_name]
            # the same In with a default (its class from the spec: op.py imports this module)
            op.ins[in_name] = type(spec)(spec.dagster_type, spec.description, value, spec.metadata)
        changed[name] = replace(node, op=op, inputs={**node.inputs, **{k: Binding(DEFAULT) for k in values}})
    for name, node in job.nodes.items():
        op = changed[name].op if name in changed else node.op
        for in_name, binding in node.inputs.items():
            if binding.kind == DEFAULT and not op.ins[in_name].has_default:
                raise ConfigError(
                    f'Missing required config entry "inputs" for input \'{in_name}\' of op \'{name}\': '
                    f"no op feeds it in this run. Give it in run_config, e.g. "
                    f'{{"ops": {{"{name}": {{"inputs": {{"{in_name}": ...}}}}}}}}.'
                )
    if not changed:
        return job
    clone = copy.copy(job)
    clone.nodes = {**job.nodes, **changed}
    return clone


def validate_run_config(job: Any, run_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check ``run_config`` against ``job`` without running it (Dagster's function).

    Returns the config with defaults filled in, ``{"ops": {op: {"config": ...}}}``; raises
    :class:`ConfigError` (``DagsterInvalidConfigError``) naming what is wrong.
    """
    merged = {**getattr(job, "default_run_config", {}), **dict(run_config or {})}
    resolved = resolve_run_config(with_config_inputs(job, merged), merged)
    return {"ops": {name: {"config": value} for name, value in resolved.items()}}
