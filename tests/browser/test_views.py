"""RunView, JobView and PartitionsView in JupyterLab: click, rerun, add, and check the kernel."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.jlab import CHECKOUT
from tests.browser.notebook import (
    dark_theme,
    kernel_exec,
    open_notebook,
    rerun_cell,
    run_all,
    write_notebook,
)

RUN_CELLS = [
    "import nbflow as nf\nBROKEN = {'k3'}",
    '''@nf.op(out=nf.DynamicOut())
def chunks():
    for i in range(8):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op
def work(context, i: int) -> int:
    if context.get_mapping_key() in BROKEN:
        raise ValueError(f"chunk {i} is broken")
    return i * 10


@nf.op
def add_up(values: list) -> int:
    return sum(values)


@nf.job
def chunked():
    add_up(chunks().map(work).collect())


chunked''',
    "run = chunked.run()\nrun",
]


def test_rerun_a_failed_mapped_key_from_the_run_view(page, lab):
    name = write_notebook(lab.root, "run_view.ipynb", RUN_CELLS)
    open_notebook(page, lab, name)
    run_all(page)
    job_view = page.locator(".nbflow-jobview")
    expect(job_view.locator("g.node#node\\:work")).to_be_visible()
    view = page.locator(".nbflow-runview:not(.nbflow-jobview)")
    expect(view).to_have_count(1)  # the live view only: the returned run says "shown above"
    expect(view.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("FAILURE")
    expect(page.get_by_text("shown above")).to_be_visible()
    # The static pictures (for saved and exported notebooks) are in the page but hidden by the views.
    expect(page.locator(".nbflow-static")).to_have_count(2)
    expect(page.locator(".nbflow-static:visible")).to_have_count(0)

    view.locator("g.node#node\\:work").click()
    expect(view.locator(".nbflow-run-details")).to_contain_text("7 success · 1 failure")
    view.locator(".nbflow-key-row[data-key='k3'] .nbflow-key-name").click()
    expect(view.locator(".nbflow-run-details .nbflow-traceback")).to_contain_text("chunk 3 is broken")
    expect(view.locator(".nbflow-run-details .nbflow-traceback")).not_to_contain_text("nbflow/execution")
    screenshot(page, "run-view-failed", view)
    view.locator(".nbflow-traceback-toggle").click()  # the full traceback, nbflow's frames too
    expect(view.locator(".nbflow-run-details .nbflow-traceback")).to_contain_text("nbflow/execution/step.py")

    kernel_exec(lab, name, "BROKEN.clear()")  # the fix, typed into the notebook
    view.locator("button.nbflow-run-rerun_downstream").click()
    expect(view.locator(".nbflow-run-parent")).to_be_visible()
    expect(view.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("SUCCESS")
    answer = kernel_exec(lab, name, "child = run.children()[0]; print(child.status, child.output('add_up'), "
                                    "child.parent_run_id == run.run_id)")
    assert answer.strip() == "SUCCESS 280 True"
    screenshot(page, "run-view-rerun", view)
    dark_theme(page)
    view.locator("g.node#node\\:work").click()
    expect(view.locator(".nbflow-run-details")).to_contain_text("8 success")
    screenshot(page, "run-view-dark", view)
    screenshot(page, "job-view-dark", job_view)

    # Clicking an op shows its details; the graph, whose SVG did not change, is not drawn again.
    job_view.locator(".nbflow-graph svg").evaluate("svg => { svg.dataset.drawn = 'before-click'; }")
    job_view.locator("g.node#node\\:add_up").click()
    expect(job_view.locator(".nbflow-job-details")).to_contain_text("add_up")
    expect(job_view.locator(".nbflow-graph svg[data-drawn='before-click']")).to_have_count(1)


PARTITION_CELLS = [
    "import nbflow as nf",
    '''episodes = nf.DynamicPartitionsDefinition("browser_episodes")
episodes.add([f"ep-{i:02d}" for i in range(1, 61)])


@nf.op
def transcribe(context) -> str:
    return context.partition_key


@nf.job(partitions_def=episodes)
def episode_job():
    transcribe()


episode_job.backfill(["ep-01", "ep-02"], progress=False)
episodes''',
]


def test_add_a_partition_from_the_partitions_view(page, jlab, notebook_factory):
    name = notebook_factory([*PARTITION_CELLS, "print(len(episodes), nf.__file__)"])
    open_notebook(page, jlab, name)
    run_all(page)
    view = page.locator(".nbflow-partitionsview")
    expect(view.locator(".nbflow-parts-count")).to_have_text("60 keys")
    expect(view.locator(".nbflow-parts-row")).to_have_count(50)  # one page
    expect(view.locator(".nbflow-parts-row[data-key='ep-01'] .nbflow-pstatus")).to_have_text("materialized")
    expect(view.locator(".nbflow-parts-row[data-key='ep-03'] .nbflow-pstatus")).to_have_text("missing")
    # The kernel runs this checkout's nbflow, not another installed copy.
    expect(page.locator(".jp-OutputArea-output").last).to_contain_text(f"60 {CHECKOUT / 'nbflow'}")

    view.locator(".nbflow-parts-add-text").fill("ep-new\nbad\tkey")
    view.locator("button.nbflow-parts-add").click()
    expect(view.locator(".nbflow-parts-add-error[data-line='2']")).to_contain_text("line 2")
    expect(view.locator(".nbflow-parts-count")).to_have_text("60 keys")  # nothing added
    view.locator(".nbflow-parts-add-text").fill("ep-new")
    view.locator("button.nbflow-parts-add").click()
    expect(view.locator(".nbflow-parts-count")).to_have_text("61 keys")
    expect(view.locator(".nbflow-parts-add-error")).to_have_count(0)
    answer = kernel_exec(jlab, name, "print('ep-new' in episodes, len(episodes), episodes.keys()[-1])")
    assert answer.strip() == "True 61 ep-new"

    # A change made elsewhere in the kernel (here by a second client) shows without a click.
    kernel_exec(jlab, name, "episodes.add(['ep-from-elsewhere'])")
    expect(view.locator(".nbflow-parts-count")).to_have_text("62 keys")
    rerun_cell(page, 2)
    expect(page.locator(".jp-OutputArea-output").last).to_contain_text("62 ")

    view.locator(".nbflow-parts-filter").fill("ep-0")
    view.locator(".nbflow-parts-filter").press("Enter")
    expect(view.locator(".nbflow-parts-row")).to_have_count(9)
    screenshot(page, "partitions-view-light", view)
    dark_theme(page)
    screenshot(page, "partitions-view-dark", view)
