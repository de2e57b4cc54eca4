"""The ``%%sensor`` cell magic and the ``%nbflow`` line magic."""

from __future__ import annotations

from typing import Any, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

COMMANDS = ("runs", "ticks", "partitions", "sensors", "stop-all")


@magics_class
class NbflowMagics(Magics):
    """nbflow's magics; see ``%%sensor?`` and ``%nbflow?``."""

    @property
    def user_ns(self) -> dict[str, Any]:
        assert self.shell is not None  # registered magics always have their shell
        return cast("dict[str, Any]", self.shell.user_ns)

    @magic_arguments()
    @argument("name", help="the sensor's name, also the variable it is bound to")
    @argument("--job", default=None,
              help="the job its run requests launch (a variable or a job name); as with @sensor, "
                   "leave it out for a sensor that only adds or deletes partitions")
    @argument("--interval", type=float, default=None,
              help="minimum_interval_seconds: how often it ticks in the background (default 30)")
    @argument("--max-failures", type=int, default=None,
              help="consecutive failed ticks after which the background loop pauses (default 5)")
    @argument("--start", action="store_true", help="start ticking in the background")
    @argument("--preview", action="store_true", help="show what a tick would do now, applying nothing")
    @cell_magic
    def sensor(self, line: str, cell: str) -> None:
        """Define a sensor from the cell: the body of its function, with ``context`` in scope.

        ``return`` works as in a function; the notebook's names are visible as usual.
        Running the cell again redefines the sensor (it keeps its cursor, ticks and run
        keys, which live in the store; a running sensor uses the new body at its next tick)::

            %%sensor new_episode_sensor --job transcription_job --interval 600 --preview
            new = check_rss_feed(context.cursor)
            return nf.SensorResult(run_requests=[nf.RunRequest(partition_key=e.id) for e in new],
                                   cursor=new[-1].etag if new else context.cursor)
        """
        from nbflow.magics.sensor_cell import sensor_function
        from nbflow.sensors.definition import DEFAULT_MAX_FAILURES, sensor

        args = parse_argstring(self.sensor, line)
        name = _identifier(args.name)
        job = self._job(args.job) if args.job is not None else None
        if args.interval is not None and args.interval <= 0:
            raise UsageError(f"--interval must be a positive number of seconds, got {args.interval:g}.")
        if args.max_failures is not None and args.max_failures < 1:
            raise UsageError(f"--max-failures must be at least 1, got {args.max_failures}.")
        fn = sensor_function(name, cell, self.user_ns)
        definition = sensor(job=job, name=name, minimum_interval_seconds=args.interval,
                            max_consecutive_failures=args.max_failures or DEFAULT_MAX_FAILURES)(fn)
        self.user_ns[name] = definition
        if args.preview:
            display(definition.preview())
        if args.start:
            definition.start()
        display(definition)

    def _job(self, name: str) -> Any:
        from nbflow.definitions.graph import JOBS
        from nbflow.errors import did_you_mean

        found = self.user_ns.get(name)
        if found is not None and hasattr(found, "nodes") and hasattr(found, "name"):
            return found
        if name in JOBS:
            return JOBS[name]
        known = sorted({*JOBS, *(k for k, v in self.user_ns.items()
                                 if hasattr(v, "nodes") and hasattr(v, "partitions_def"))})
        raise UsageError(
            f"--job {name}: no job of that name in this notebook. Define it (run its cell) first. "
            + (did_you_mean(name, known) if known else "No jobs are defined yet.")
        )

    @magic_arguments()
    @argument("command", nargs="?", help=f"one of: {', '.join(COMMANDS)}")
    @argument("args", nargs="*", help="the command's arguments")
    @argument("--job", default=None, help="runs: only runs of this job")
    @argument("--status", default=None, help="runs, ticks: only this status (SUCCESS, FAILURE, ...)")
    @argument("--limit", type=int, default=20, help="runs, ticks: how many rows (newest first)")
    @argument("-h", "--help", action="store_true", help="show this help")
    @line_magic
    def nbflow(self, line: str) -> Any:
        """Quick questions to the store, and sensor control.

        * ``%nbflow runs [--job J] [--status S] [--limit N]``: the latest runs;
        * ``%nbflow ticks SENSOR [--status S] [--limit N]``: a sensor's latest ticks;
        * ``%nbflow partitions NAME``: the keys of a dynamic partitions definition;
          ``%nbflow partitions NAME add KEY ...`` / ``... delete KEY ...`` change them;
        * ``%nbflow sensors``: every sensor, its status, interval, cursor and last tick;
        * ``%nbflow stop-all``: stop every sensor running in this kernel.
        """
        args = self.nbflow.parser.parse_args(_shell_words(line))
        if args.help or not args.command:
            print(self.nbflow.__doc__)
            return None
        handler = {"runs": _runs, "ticks": _ticks, "partitions": _partitions, "sensors": _sensors,
                   "stop-all": _stop_all}.get(args.command)
        if handler is None:
            raise UsageError(f"%nbflow has no command {args.command!r}; the commands are: {', '.join(COMMANDS)}.")
        if args.command == "partitions":
            return _partitions(args, self.user_ns)
        return handler(args)


def _shell_words(line: str) -> list[str]:
    """Split like a POSIX shell: ``add "c d" ''`` is the keys ``c d`` and the empty string."""
    import shlex

    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%nbflow {line}: {exc}. Quote as in a shell: 'c d' or \"c d\".") from None


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise UsageError(f"%%sensor {name}: the name must be a Python identifier (it becomes a variable).")
    return name


def _instance() -> Any:
    from nbflow.runtime.instance import instance

    return instance()


def _runs(args: Any) -> Any:
    if args.args:
        raise UsageError(f"%nbflow runs takes no positional arguments, got {args.args}; use --job/--status.")
    return _instance().runs(job=args.job, status=args.status, limit=args.limit)


def _ticks(args: Any) -> Any:
    from nbflow.sensors.definition import SENSORS

    if len(args.args) != 1:
        raise UsageError("Usage: %nbflow ticks SENSOR [--status S] [--limit N]")
    name = args.args[0]
    store = _instance().store.sensors
    if name not in SENSORS and store.tick_count(name) == 0:
        from nbflow.errors import did_you_mean

        raise UsageError(f"No sensor {name!r} here or in the store. {did_you_mean(name, sorted(SENSORS))}")
    return store.ticks(name, args.limit, args.status)


def _partitions(args: Any, user_ns: dict[str, Any] | None = None) -> Any:
    from nbflow.errors import NbflowError, did_you_mean

    if not args.args:
        raise UsageError("Usage: %nbflow partitions NAME [add|delete KEY ...]")
    name, rest = args.args[0], args.args[1:]
    inst = _instance()
    action, keys = (rest[0], rest[1:]) if rest else ("list", [])
    if action not in ("add", "delete", "list") or (rest and not keys):
        raise UsageError(f"Usage: %nbflow partitions {name} add KEY ... | delete KEY ... (got {' '.join(rest)!r}).")
    if action != "add":  # adding is how a new set of keys starts; reading or deleting needs one
        known = _partitions_names(inst, user_ns or {})
        if name not in known:
            raise UsageError(f"%nbflow partitions: no definition named {name!r}. {did_you_mean(name, known)}")
    if action == "list":
        keys = inst.get_dynamic_partitions(name)
        print(f"{name}: {len(keys)} key{'' if len(keys) == 1 else 's'}")
        return keys
    try:
        if action == "add":
            return inst.add_dynamic_partitions(name, keys, source="magic")
        return inst.delete_dynamic_partitions(name, keys, source="magic")
    except NbflowError as exc:  # a bad key: nothing was changed
        raise UsageError(str(exc)) from None


def _partitions_names(inst: Any, user_ns: dict[str, Any]) -> list[str]:
    """Dynamic partitions definitions known here: in the notebook's namespace or in the store."""
    from nbflow.partitions import DynamicPartitionsDefinition
    from nbflow.store.queries import partitions_def_names

    stored = partitions_def_names(inst.store)
    defined = [v.name for v in user_ns.values() if isinstance(v, DynamicPartitionsDefinition)]
    return sorted({*stored, *defined})


def _sensors(args: Any) -> Any:
    import pandas as pd

    from nbflow.runtime.sensor_loop import status
    from nbflow.sensors.definition import SENSORS

    inst = _instance()
    stored = inst.store.sensors.states()
    names = sorted({*SENSORS, *stored.sensor})
    rows = []
    for name in names:
        state, detail = status(name, inst)
        known = SENSORS.get(name)
        saved = inst.store.sensors.state(name)
        rows.append({"sensor": name, "status": state, "detail": detail or saved.reason,
                     "interval": known.minimum_interval_seconds if known else None,
                     "jobs": ", ".join(j.name for j in known.jobs) if known else None,
                     "cursor": saved.cursor, "ticks": inst.store.sensors.tick_count(name),
                     "defined here": known is not None})
    return pd.DataFrame(rows, columns=["sensor", "status", "detail", "interval", "jobs", "cursor", "ticks",
                                       "defined here"])


def _stop_all(args: Any) -> None:
    from nbflow.runtime.sensor_loop import stop_all

    stopped = stop_all()
    print(f"Stopped {len(stopped)} sensors: {', '.join(stopped)}" if stopped else "No sensor was running.")
