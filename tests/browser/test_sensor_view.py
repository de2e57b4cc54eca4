"""SensorView in JupyterLab: press "Tick now", see the tick, and find it in the kernel."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.notebook import dark_theme, kernel_exec, open_notebook, run_all, write_notebook

CELLS = [
    "import nbflow as nf",
    '''files = nf.DynamicPartitionsDefinition("browser_files")


@nf.op
def load(context) -> str:
    return context.partition_key


@nf.job(partitions_def=files)
def load_job():
    load()


@nf.sensor(job=load_job, minimum_interval_seconds=60)
def file_sensor(context):
    n = int(context.cursor or 0) + 1
    print(f"found file f{n}")
    return nf.SensorResult(
        run_requests=[nf.RunRequest(run_key=f"f{n}", partition_key=f"f{n}")],
        dynamic_partitions_requests=[files.build_add_request([f"f{n}"])],
        cursor=str(n),
    )''',
    "file_sensor",
]


def test_tick_now_records_a_tick(page, lab):
    name = write_notebook(lab.root, "sensor_view.ipynb", CELLS)
    open_notebook(page, lab, name)
    run_all(page)
    view = page.locator(".nbflow-sensorview")
    expect(view.locator(".nbflow-sensor-state")).to_have_text("stopped")
    expect(view.locator(".nbflow-empty")).to_have_text("No ticks yet.")

    view.locator("button.nbflow-sensor-tick").click()
    row = view.locator(".nbflow-tick-row").first
    expect(row).to_have_attribute("data-status", "SUCCESS")
    expect(view.locator(".nbflow-tick-details")).to_contain_text("found file f1")
    expect(view.locator(".nbflow-sensor-cursor")).to_contain_text('"1"')

    answer = kernel_exec(lab, name, "t = file_sensor.ticks(); print(len(t), t.status[0], file_sensor.cursor, "
                                    "sorted(nf.instance().runs(job='load_job').status), files.keys())")
    assert answer.strip() == "1 SUCCESS 1 ['SUCCESS'] ['f1']"

    view.locator("button.nbflow-sensor-preview").click()
    expect(view.locator(".nbflow-preview")).to_contain_text("1 new keys")
    screenshot(page, "sensor-view-light", view)
    dark_theme(page)
    screenshot(page, "sensor-view-dark", view)
