"""Dagster's dynamic-mapping docs snippets and core tests, with only the import changed.

Each test follows one of Dagster's (named in its comment): the docs snippets in
``examples/docs_snippets/docs_snippets/concepts/ops_jobs_graphs/dynamic.py`` and the core
tests in ``python_modules/dagster/dagster_tests/execution_tests/dynamic_tests/``. Dagster's
``instance_for_test()`` is written ``dg.DagsterInstance.ephemeral()``; nothing else changes.
"""

from __future__ import annotations

import os

import pytest

import nbflow as dg

# -- the module-level ops of dynamic_tests/test_dynamic_execution.py ------------------------


@dg.op(tags={"third": "3"})
def multiply_by_two(context, y):
    context.log.info("multiply_by_two is returning " + str(y * 2))
    return y * 2


@dg.op(tags={"second": "2"})
def multiply_inputs(context, y, ten):
    context.log.info("multiply_inputs is returning " + str(y * ten))
    return y * ten


@dg.op
def emit_ten(_):
    return 10


@dg.op
def echo(_, x: int) -> int:
    return x


@dg.op(config_schema={"range": dg.Field(int, is_required=False, default_value=3)})
def num_range(context) -> int:
    return context.op_config["range"]


@dg.op(
    out=dg.DynamicOut(),
    config_schema={"fail": dg.Field(bool, is_required=False, default_value=False)},
    tags={"first": "1"},
)
def emit(context, num: int = 3):
    if context.op_config["fail"]:
        raise Exception("FAILURE")
    for i in range(num):
        yield dg.DynamicOutput(value=i, mapping_key=str(i))


@dg.op
def sum_numbers(_, nums):
    return sum(nums)


@dg.op(out=dg.DynamicOut())
def dynamic_echo(_, nums):
    for x in nums:
        yield dg.DynamicOutput(value=x, mapping_key=str(x))


@dg.job
def dynamic_job():
    numbers = emit(num_range())
    dynamic = numbers.map(lambda num: multiply_by_two(multiply_inputs(num, emit_ten())))
    n = multiply_by_two.alias("double_total")(sum_numbers(dynamic.collect()))
    echo(n)  # test transitive downstream of collect


@dg.job
def fan_repeat():
    one = emit(num_range()).map(multiply_by_two)
    two = dynamic_echo(one.collect()).map(multiply_by_two).map(echo)
    three = dynamic_echo(two.collect()).map(multiply_by_two)
    sum_numbers(three.collect())


# test_dynamic_execution.py::test_map
def test_map():
    with dg.DagsterInstance.ephemeral() as instance:
        result = dynamic_job.execute_in_process(instance=instance)
        assert result.success
        assert result.output_for_node("multiply_inputs") == {"0": 0, "1": 10, "2": 20}
        assert result.output_for_node("multiply_by_two") == {"0": 0, "1": 20, "2": 40}
        assert result.output_for_node("sum_numbers") == 60
        assert result.output_for_node("double_total") == 120
        assert result.output_for_node("echo") == 120


# test_dynamic_execution.py::test_map_empty
def test_map_empty():
    with dg.DagsterInstance.ephemeral() as instance:
        result = dynamic_job.execute_in_process(
            instance=instance, run_config={"ops": {"num_range": {"config": {"range": 0}}}}
        )
        assert result.success
        assert result.output_for_node("double_total") == 0


# test_dynamic_execution.py::test_map_selection
def test_map_selection():
    with dg.DagsterInstance.ephemeral() as instance:
        result = dynamic_job.execute_in_process(
            instance=instance,
            run_config={"ops": {"emit": {"inputs": {"num": 2}}}},
            op_selection=["emit*", "emit_ten"],
        )
        assert result.success
        assert result.output_for_node("double_total") == 40


# test_dynamic_execution.py::test_fan_out_in_out_in
def test_fan_out_in_out_in():
    with dg.DagsterInstance.ephemeral() as instance:
        result = fan_repeat.execute_in_process(instance=instance)
        assert result.success
        assert result.output_for_node("sum_numbers") == 24  # (0, 1, 2) x 2 x 2 x 2 = (0, 8, 16)

        empty_result = fan_repeat.execute_in_process(
            instance=instance, run_config={"ops": {"num_range": {"config": {"range": 0}}}}
        )
        assert empty_result.success
        assert empty_result.output_for_node("sum_numbers") == 0


# test_dynamic_execution.py::test_map_fail
def test_map_fail():
    with dg.DagsterInstance.ephemeral() as instance:
        result = dynamic_job.execute_in_process(
            instance=instance,
            run_config={"ops": {"emit": {"config": {"fail": True}}}},
            raise_on_error=False,
        )
        assert not result.success


# test_dynamic_execution.py::test_map_fail, with raise_on_error=True: the op's own exception
def test_map_fail_raises_the_ops_exception():
    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(Exception, match="FAILURE"):
            dynamic_job.execute_in_process(
                instance=instance, run_config={"ops": {"emit": {"config": {"fail": True}}}}
            )


# test_dynamic_execution.py::test_multi_collect
def test_multi_collect():
    @dg.op
    def fan_in(_, x, y):
        return x + y

    @dg.job
    def double():
        nums_1 = emit()
        nums_2 = emit()
        fan_in(nums_1.collect(), nums_2.collect())

    result = double.execute_in_process()
    assert result.success
    assert result.output_for_node("fan_in") == [0, 1, 2, 0, 1, 2]


# test_dynamic_execution.py::test_fan_in_skips
@pytest.mark.xfail(strict=True, reason="nbflow skips a collect whose fan-out op was skipped (its input, "
                   "an optional output, was not produced); Dagster runs it with [] (its own test says "
                   "'arguably should be skip'). See docs/dagster-compatibility.md.")
def test_fan_in_skips():
    @dg.op(
        out={
            "nums": dg.Out(),
            "empty": dg.Out(),
            "skip": dg.Out(is_required=False),
        }
    )
    def fork_logic():
        yield dg.Output([1, 2, 3], output_name="nums")
        yield dg.Output([], output_name="empty")

    @dg.op(out=dg.DynamicOut(int))
    def emit_dyn(vector):
        for i in vector:
            yield dg.DynamicOutput(value=i, mapping_key=f"input_{i}")

    @dg.op
    def total(items):
        return sum(items)

    @dg.job
    def dyn_fork():
        nums, empty, skip = fork_logic()
        total.alias("grand_total")(
            [
                total.alias("nums_total")(emit_dyn(nums).map(echo).collect()),
                total.alias("empty_total")(emit_dyn(empty).map(echo).collect()),
                total.alias("skip_total")(emit_dyn(skip).map(echo).collect()),
            ]
        )

    result = dyn_fork.execute_in_process()
    assert result.success
    assert result.output_for_node("nums_total") == 6
    assert result.output_for_node("empty_total") == 0
    assert result.output_for_node("grand_total") == 6


# test_dynamic_execution.py::test_composite_wrapping
def test_composite_wrapping():
    @dg.graph
    def do_multiple_steps(z):
        output = echo(z)
        return echo(output)

    @dg.job
    def shallow():
        emit().map(do_multiple_steps)

    result = shallow.execute_in_process()
    assert result.success
    assert result.output_for_node("do_multiple_steps") == {"0": 0, "1": 1, "2": 2}

    @dg.graph
    def inner(x):
        return echo(x)

    @dg.graph
    def middle(y):
        return inner(y)

    @dg.graph
    def outer(z):
        return middle(z)

    @dg.job
    def deep():
        emit().map(outer)

    result = deep.execute_in_process()
    assert result.success
    assert result.output_for_node("outer") == {"0": 0, "1": 1, "2": 2}


# -- dynamic_tests/test_dynamic_output.py ---------------------------------------------------


# test_dynamic_output.py::test_fails_dupe_keys
def test_fails_dupe_keys():
    @dg.op(out=dg.DynamicOut())
    def should_fail(_):
        yield dg.DynamicOutput(True, mapping_key="dunk")
        yield dg.DynamicOutput(True, mapping_key="dunk")

    @dg.job
    def dupe_job():
        should_fail()

    with pytest.raises(dg.DagsterInvariantViolationError, match='mapping_key "dunk" multiple times'):
        dupe_job.execute_in_process()


# test_dynamic_output.py::test_invalid_mapping_keys (only the empty key: nbflow takes any
# other non-empty str, see docs/dagster-compatibility.md)
def test_invalid_mapping_keys():
    with pytest.raises(dg.DagsterInvalidDefinitionError):
        dg.DynamicOutput(True, mapping_key="")


# test_dynamic_output.py::test_multi_output
def test_multi_output():
    @dg.op(
        out={
            "numbers": dg.DynamicOut(int),
            "letters": dg.DynamicOut(str),
            "wildcard": dg.Out(str),
        }
    )
    def multiout():
        yield dg.DynamicOutput(1, output_name="numbers", mapping_key="1")
        yield dg.DynamicOutput(2, output_name="numbers", mapping_key="2")
        yield dg.DynamicOutput("a", output_name="letters", mapping_key="a")
        yield dg.DynamicOutput("b", output_name="letters", mapping_key="b")
        yield dg.DynamicOutput("c", output_name="letters", mapping_key="c")
        yield dg.Output("*", "wildcard")

    @dg.op
    def double(n):
        return n * 2

    @dg.job
    def multi_dyn():
        numbers, _, _ = multiout()
        numbers.map(double)

    result = multi_dyn.execute_in_process()
    assert result.success
    assert result.output_for_node("multiout", "numbers") == {"1": 1, "2": 2}
    assert result.output_for_node("multiout", "letters") == {"a": "a", "b": "b", "c": "c"}
    assert result.output_for_node("multiout", "wildcard") == "*"
    assert result.output_for_node("double") == {"1": 2, "2": 4}


# test_dynamic_output.py::test_multi_out_map
def test_multi_out_map():
    @dg.op(out=dg.DynamicOut())
    def emit():
        yield dg.DynamicOutput(1, mapping_key="1")
        yield dg.DynamicOutput(2, mapping_key="2")
        yield dg.DynamicOutput(3, mapping_key="3")

    @dg.op(
        out={
            "a": dg.Out(is_required=False),
            "b": dg.Out(is_required=False),
            "c": dg.Out(is_required=False),
        }
    )
    def multiout(inp: int):
        if inp == 1:
            yield dg.Output(inp, output_name="a")
        else:
            yield dg.Output(inp, output_name="b")

    @dg.op
    def echo(a):
        return a

    @dg.job
    def destructure():
        a, b, c = emit().map(multiout)
        echo.alias("echo_a")(a.collect())
        echo.alias("echo_b")(b.collect())
        echo.alias("echo_c")(c.collect())

    result = destructure.execute_in_process()
    assert result.output_for_node("echo_a") == [1]
    assert result.output_for_node("echo_b") == [2, 3]
    with pytest.raises(dg.DagsterInvariantViolationError):
        result.output_for_node("echo_c")  # all fanned in inputs skipped -> op skips


# test_dynamic_output.py::test_context_mapping_key
def test_context_mapping_key():
    _observed = []

    @dg.op
    def observe_key(context, _dep=None):
        _observed.append(context.get_mapping_key())

    @dg.op(out=dg.DynamicOut())
    def emit():
        yield dg.DynamicOutput(1, mapping_key="key_1")
        yield dg.DynamicOutput(2, mapping_key="key_2")

    @dg.job
    def test():
        observe_key()
        emit().map(observe_key)

    result = test.execute_in_process()
    assert result.success
    assert _observed == [None, "key_1", "key_2"]

    # test standalone doesn't throw as well
    _observed = []
    observe_key(dg.build_op_context())
    assert _observed == [None]


# test_dynamic_output.py::test_dynamic_with_op
def test_dynamic_with_op():
    @dg.op
    def passthrough(_ctx, _dep=None):
        pass

    @dg.op(out=dg.DynamicOut())
    def emit():
        yield dg.DynamicOutput(1, mapping_key="key_1")
        yield dg.DynamicOutput(2, mapping_key="key_2")

    @dg.graph
    def test_graph():
        emit().map(passthrough)

    assert test_graph.execute_in_process().success


# test_dynamic_output.py::test_fails_with_wrong_output
def test_fails_with_wrong_output():
    @dg.op(out=dg.DynamicOut())
    def should_fail(_):
        yield dg.Output(1)

    with pytest.raises(dg.DagsterInvariantViolationError, match="must yield DynamicOutput"):
        _run_single(should_fail)


def _run_single(op_def):
    @dg.job
    def single():
        op_def()

    return single.execute_in_process()


# -- docs_snippets/concepts/ops_jobs_graphs/dynamic.py ---------------------------------------


@dg.op(out=dg.DynamicOut())
def load_pieces():
    large_data = {"a": 1, "b": 2, "c": 3}
    for idx, piece in large_data.items():
        yield dg.DynamicOutput(piece, mapping_key=idx)


@dg.op
def compute_piece(piece):
    return piece * 2


@dg.op
def merge_and_analyze(pieces):
    return sum(pieces)


# dynamic.py: dynamic_graph (the docs' first example)
def test_docs_dynamic_graph():
    @dg.job
    def dynamic_graph():
        pieces = load_pieces()
        results = pieces.map(compute_piece)
        merge_and_analyze(results.collect())

    result = dynamic_graph.execute_in_process()
    assert result.success
    assert result.output_for_node("compute_piece") == {"a": 2, "b": 4, "c": 6}
    assert result.output_for_node("merge_and_analyze") == 12


# dynamic.py: chained maps (dynamic_graph with .map(compute_piece).map(...))
def test_docs_chained_maps():
    @dg.op
    def other_compute_piece(piece):
        return piece + 1

    @dg.job
    def chained():
        pieces = load_pieces()
        results = pieces.map(compute_piece).map(other_compute_piece)
        merge_and_analyze(results.collect())

    result = chained.execute_in_process()
    assert result.output_for_node("other_compute_piece") == {"a": 3, "b": 5, "c": 7}
    assert result.output_for_node("merge_and_analyze") == 15


# dynamic.py: map over a function wiring several ops (the "multiple_ops" lambda form)
def test_docs_map_lambda():
    @dg.op
    def other_compute_piece(piece):
        return piece + 1

    @dg.job
    def lambda_map():
        pieces = load_pieces()
        results = pieces.map(lambda piece: other_compute_piece(compute_piece(piece)))
        merge_and_analyze(results.collect())

    assert lambda_map.execute_in_process().output_for_node("merge_and_analyze") == 15


# dynamic.py: multiple_dynamic_outputs (op with two DynamicOut)
def test_docs_multiple_dynamic_outputs():
    @dg.op(out={"values": dg.DynamicOut(), "negatives": dg.DynamicOut()})
    def split_dynamic():
        for idx, value in enumerate([1, -2, 3]):
            if value >= 0:
                yield dg.DynamicOutput(value, mapping_key=str(idx), output_name="values")
            else:
                yield dg.DynamicOutput(value, mapping_key=str(idx), output_name="negatives")

    @dg.job
    def multiple():
        values, negatives = split_dynamic()
        merge_and_analyze.alias("sum_values")(values.map(compute_piece).collect())
        merge_and_analyze.alias("sum_negatives")(negatives.map(compute_piece).collect())

    result = multiple.execute_in_process()
    assert result.output_for_node("sum_values") == 8
    assert result.output_for_node("sum_negatives") == -4


# dynamic.py: dynamic_return (an op annotated -> list[DynamicOutput[str]] that returns them)
def test_docs_return_dynamic_annotated():
    @dg.op
    def return_dynamic() -> list[dg.DynamicOutput[str]]:
        items = []
        for letter in ["a", "b", "c"]:
            items.append(dg.DynamicOutput(letter.upper(), mapping_key=letter))
        return items

    @dg.op
    def upper_len(s: str) -> int:
        return len(s)

    @dg.job
    def returns():
        merge_and_analyze(return_dynamic().map(upper_len).collect())

    result = returns.execute_in_process()
    assert result.output_for_node("return_dynamic") == {"a": "A", "b": "B", "c": "C"}
    assert result.output_for_node("merge_and_analyze") == 3


# dynamic.py: a DynamicOut op that returns a list of DynamicOutputs
def test_docs_return_list_of_dynamic_outputs():
    @dg.op(out=dg.DynamicOut())
    def return_list():
        return [dg.DynamicOutput(i, mapping_key=f"k{i}") for i in range(3)]

    @dg.job
    def returns_list():
        merge_and_analyze(return_list().map(compute_piece).collect())

    assert returns_list.execute_in_process().output_for_node("merge_and_analyze") == 6


# dynamic.py: files_in_directory / process_directory (the classic fan-out over files)
def test_docs_process_directory(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b-2.csv").write_text("x,y\n")

    @dg.op(config_schema={"path": str}, out=dg.DynamicOut(str))
    def files_in_directory(context):
        path = context.op_config["path"]
        dirname, _, filenames = next(os.walk(path))
        for file in sorted(filenames):
            yield dg.DynamicOutput(
                value=os.path.join(dirname, file),
                mapping_key=file.replace(".", "_").replace("-", "_"),
            )

    @dg.op
    def process_file(path: str) -> int:
        return os.path.getsize(path)

    @dg.op
    def summarize_directory(sizes: list[int]) -> int:
        return sum(sizes)

    @dg.job
    def process_directory():
        file_results = files_in_directory().map(process_file)
        summarize_directory(file_results.collect())

    result = process_directory.execute_in_process(
        run_config={"ops": {"files_in_directory": {"config": {"path": str(tmp_path)}}}}
    )
    assert result.output_for_node("process_file") == {"a_txt": 5, "b_2_csv": 4}
    assert result.output_for_node("summarize_directory") == 9


# -- Dagster core tests: graphs, selection, fan-in, config, errors ---------------------------


# definitions_tests/test_graph.py: executing a graph in process, graph outputs by name
def test_graph_execute_in_process_with_outputs():
    @dg.op
    def one():
        return 1

    @dg.op
    def add_one(x):
        return x + 1

    @dg.graph(out={"first": dg.GraphOut(), "second": dg.GraphOut()})
    def two_outputs():
        a = one()
        return {"first": a, "second": add_one(a)}

    result = two_outputs.execute_in_process()
    assert result.success
    assert result.output_value("first") == 1
    assert result.output_value("second") == 2


# test_composition.py: a list of outputs passed as one input (fan-in)
def test_fan_in_list_of_outputs():
    @dg.op
    def return_one():
        return 1

    @dg.op
    def sum_fan_in(nums):
        return sum(nums)

    @dg.job
    def fan_in_job():
        nums = [return_one.alias(f"return_one_{i}")() for i in range(10)]
        sum_fan_in(nums)

    assert fan_in_job.execute_in_process().output_for_node("sum_fan_in") == 10


# test_job.py / test_composition.py: an empty @job runs and succeeds
def test_empty_job():
    @dg.job
    def empty_job():
        pass

    assert empty_job.execute_in_process().success


# config_tests: an op without config_schema accepts any config (the README's first example)
def test_op_without_config_schema_takes_any_config():
    @dg.op
    def reads_config(context):
        return context.op_config["folder"]

    @dg.job
    def config_job():
        reads_config()

    result = config_job.execute_in_process(
        run_config={"ops": {"reads_config": {"config": {"folder": "data"}}}}
    )
    assert result.output_for_node("reads_config") == "data"


# test_execute_in_process: op_selection with a single name and with "*name"
def test_op_selection_upstream():
    @dg.op
    def a():
        return 1

    @dg.op
    def b(x):
        return x + 1

    @dg.op
    def c(y):
        return y * 10

    @dg.job
    def abc():
        c(b(a()))

    result = abc.execute_in_process(op_selection=["*b"])
    assert result.success
    assert result.output_for_node("b") == 2
    assert {e.step_key for e in result.all_events if e.step_key} == {"a", "b"}

    result = abc.execute_in_process(op_selection=["c"], run_config={"ops": {"c": {"inputs": {"y": 5}}}})
    assert result.output_for_node("c") == 50


# test_execute_in_process: a misspelt keyword is a TypeError naming it
def test_execute_in_process_unknown_keyword():
    with pytest.raises(TypeError, match="run_confg"):
        dynamic_job.execute_in_process(run_confg={})


# test_execute_in_process: an op raising with raise_on_error=True re-raises the user's error
def test_raise_on_error_reraises_user_exception():
    @dg.op
    def boom():
        raise ValueError("bad value")

    @dg.job
    def boom_job():
        boom()

    with pytest.raises(ValueError, match="bad value"):
        boom_job.execute_in_process()
    result = boom_job.execute_in_process(raise_on_error=False)
    assert not result.success


# test_execute_in_process: DagsterExecutionStepExecutionError is what Dagster raises with
# raise_on_error for framework failures; the user's own error keeps its type
def test_step_execution_error_name_exported():
    assert issubclass(dg.DagsterExecutionStepExecutionError, dg.DagsterError)
    assert issubclass(dg.DagsterInvalidConfigError, dg.DagsterError)


# config tests: a config error raises DagsterInvalidConfigError
def test_invalid_config_error():
    with pytest.raises(dg.DagsterInvalidConfigError):
        dynamic_job.execute_in_process(run_config={"ops": {"num_range": {"config": {"range": "x"}}}})


# test_not_allowed.py::test_direct_dep
def test_not_allowed_direct_dep():
    @dg.op(out=dg.DynamicOut())
    def dynamic_op():
        yield dg.DynamicOutput(1, mapping_key="1")

    @dg.op
    def no_map(_, x):
        return x

    with pytest.raises(dg.DagsterInvalidDefinitionError, match="by invoking map or collect"):

        @dg.job
        def _should_fail():
            no_map(dynamic_op())


# test_not_allowed.py::test_multi_direct / test_collect_and_dep
def test_not_allowed_two_dynamic_upstreams():
    @dg.op(out=dg.DynamicOut())
    def dyn_a():
        yield dg.DynamicOutput(1, mapping_key="1")

    @dg.op
    def add(x, y):
        return x + y

    with pytest.raises(dg.DagsterInvalidDefinitionError, match="cannot be downstream of more than one dynamic output"):

        @dg.job
        def _should_fail():
            a = dyn_a()
            b = dyn_a()
            a.map(lambda x: b.map(lambda y: add(x, y)))


# test_not_allowed.py::test_nested_dynamic
def test_not_allowed_nested_dynamic():
    @dg.op(out=dg.DynamicOut())
    def dyn():
        yield dg.DynamicOutput(1, mapping_key="1")

    @dg.op(out=dg.DynamicOut())
    def inner_dyn(x):
        yield dg.DynamicOutput(x, mapping_key="1")

    @dg.op
    def echo_(x):
        return x

    with pytest.raises(dg.DagsterInvalidDefinitionError):

        @dg.job
        def _should_fail():
            dyn().map(inner_dyn).map(echo_)


# test_dynamic_execution / execution events: result.all_events and events_for_node
def test_events_for_node():
    result = dynamic_job.execute_in_process()
    types = {event.event_type_value for event in result.all_events}
    assert {"STEP_START", "STEP_SUCCESS", "STEP_OUTPUT"} <= types
    node_events = result.events_for_node("sum_numbers")
    assert any(e.event_type_value == "STEP_SUCCESS" for e in node_events)
    assert all(e.step_key.startswith("sum_numbers") for e in node_events)


# execution_tests/test_input_values_from_intermediates.py::test_from_intermediates_from_config
def test_from_intermediates_from_config():
    run_config = {"ops": {"x": {"inputs": {"string_input": {"value": "Dagster is great!"}}}}}

    @dg.op
    def x(string_input):
        return string_input

    @dg.job
    def pipe():
        x()

    result = pipe.execute_in_process(run_config=run_config)
    assert result
    assert result.success
    assert result.output_for_node("x") == "Dagster is great!"


# execution_tests/test_input_values_from_intermediates.py::test_from_intermediates_from_multiple_outputs
def test_from_intermediates_from_multiple_outputs():
    @dg.op
    def x():
        return "x"

    @dg.op
    def y():
        return "y"

    @dg.op(ins={"stuff": dg.In(list)})
    def gather(stuff):
        return "{} and {}".format(*stuff)

    @dg.job
    def pipe():
        gather([x(), y()])

    result = pipe.execute_in_process()
    assert result
    assert result.success
    step_input_event = next(evt for evt in result.events_for_node("gather") if evt.event_type_value == "STEP_START")
    assert step_input_event.node_name == "gather"
    assert result.output_for_node("gather") == "x and y"


# -- dynamic_tests/test_dsl.py ---------------------------------------------------------------


@dg.op(out=dg.DynamicOut())
def dynamic_numbers(_):
    yield dg.DynamicOutput(1, mapping_key="1")
    yield dg.DynamicOutput(2, mapping_key="2")


@dg.op
def emit_one(_):
    return 1


@dg.op
def add_one(_, x):
    return x + 1


# test_dsl.py::test_must_unpack
def test_must_unpack():
    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match="Dynamic output must be unpacked by invoking map or collect",
    ):

        @dg.job
        def _should_fail():
            echo(dynamic_numbers())


# test_dsl.py::test_must_unpack_composite
def test_must_unpack_composite():
    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match="Dynamic output must be unpacked by invoking map or collect",
    ):

        @dg.graph(out=dg.GraphOut())
        def composed():
            return dynamic_numbers()

        @dg.job
        def _should_fail():
            echo(composed())


# test_dsl.py::test_mapping
def test_mapping():
    @dg.job
    def mapping():
        dynamic_numbers().map(add_one).map(echo)

    result = mapping.execute_in_process()
    assert result.success


# test_dsl.py::test_mapping_multi
def test_mapping_multi():
    def _multi(item):
        a = add_one(item)
        b = add_one(a)
        c = add_one(b)
        return a, b, c

    @dg.job
    def multi_map():
        a, b, c = dynamic_numbers().map(_multi)
        a.map(echo)
        b.map(echo)
        c.map(echo)

    result = multi_map.execute_in_process()
    assert result.success


# test_dsl.py::test_composite_multi_out
def test_composite_multi_out():
    @dg.graph(out={"one": dg.GraphOut(), "numbers": dg.GraphOut()})
    def multi_out():
        one = emit_one()
        numbers = dynamic_numbers()
        return {"one": one, "numbers": numbers}

    @dg.job
    def composite_multi():
        one, numbers = multi_out()
        echo(one)
        numbers.map(echo)

    result = composite_multi.execute_in_process()
    assert result.success


# -- dynamic_tests/test_not_allowed.py -------------------------------------------------------


@dg.op(out=dg.DynamicOut())
def dynamic_op():
    yield dg.DynamicOutput(1, mapping_key="1")
    yield dg.DynamicOutput(2, mapping_key="2")


@dg.op
def add(x, y):
    return x + y


@dg.op
def echo_x(x):
    return x


# test_not_allowed.py::test_fan_in
def test_not_allowed_fan_in():
    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match='Problematic dependency on dynamic output "dynamic_op:result"',
    ):

        @dg.job
        def _should_fail():
            numbers = []
            dynamic_op().map(numbers.append)
            echo_x(numbers)


# test_not_allowed.py::test_multi_direct
def test_not_allowed_multi_direct():
    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match="cannot be downstream of more than one dynamic output",
    ):

        @dg.job
        def _should_fail():
            def _add(x):
                dynamic_op().map(lambda y: add(x, y))

            dynamic_op().map(_add)


# test_not_allowed.py::test_multi_indirect
def test_not_allowed_multi_indirect():
    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match="cannot be downstream of more than one dynamic output",
    ):

        @dg.job
        def _should_fail():
            def _add(x):
                dynamic_op().map(lambda y: add(x, y))

            dynamic_op().map(lambda z: _add(echo_x(z)))


# test_not_allowed.py::test_collect_and_dep
def test_not_allowed_collect_and_dep():
    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match="cannot both collect over dynamic output",
    ):

        @dg.job
        def _bad():
            x = dynamic_op()
            x.map(lambda y: add(y, x.collect()))

    with pytest.raises(
        dg.DagsterInvalidDefinitionError,
        match="cannot be both downstream of dynamic output",
    ):

        @dg.job
        def _bad_other():
            x = dynamic_op()
            x.map(lambda y: add(x.collect(), y))
