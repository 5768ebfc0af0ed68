"""The UI in a real browser: Playwright drives Debian's Chromium against a real ``fstrack ui`` server over a
store made by real scripts (tests/ui/scripts/demo_run.py), an agent and a live run.

Every wait is on a condition (Playwright's auto-waiting ``expect`` or a polled predicate), never a sleep.
Screenshots of the main pages, light and dark, go to docs/screenshots/ (overwritten each run).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "scripts" / "demo_run.py"
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("FSTRACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOSTILE = "<img src=x onerror=window.__xss=1>"
WAIT_MS = 90_000
expect.set_options(timeout=WAIT_MS)


def _wait(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Demo:
    """The store, the environment of the processes that write it, and the UI server over it."""

    def __init__(self, root: Path):
        self.store = root / "store"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
        self.env.update(
            FSTRACK_URL=str(self.store),
            FSTRACK_CACHE_DIR=str(root / "cache"),
            HOME=str(root),
            FSTRACK_HEARTBEAT_SECONDS="0.5",
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        self.root = root
        self.processes: list[subprocess.Popen] = []

    def run(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr

    def start(self, *command: str, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(
            list(command),
            env=self.env,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self.processes.append(proc)
        return proc

    def serve(self, *args: str) -> tuple[subprocess.Popen, str]:
        proc = self.start(sys.executable, "-m", "fstrack", "ui", str(self.store), "--port", "0", *args)
        line = proc.stdout.readline()
        found = re.search(r"(http://\S+)", line)
        assert found, f"fstrack ui printed {line!r}"
        return proc, found.group(1)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(30)

    def tasks(self) -> list[dict]:
        out = subprocess.run(
            [sys.executable, "-m", "fstrack", "ls", "--json", "--archived"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def task(self, name: str) -> dict:
        return next(t for t in self.tasks() if t["name"] == name)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo = Demo(tmp_path_factory.mktemp("ui-browser"))
    demo.run("--name", "run lr 0.1", "--lr", "0.1", "--tag", "sweep")
    demo.run("--name", "run lr 0.2", "--lr", "0.2", "--tag", "sweep", "--series", "100")
    demo.run("--name", HOSTILE, "--lr", "0.3", "--minimal", "--tag", "<b>bold</b>")
    _proc, demo.url = demo.serve()
    yield demo
    demo.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Chromium's notes about its software WebGL and the sandboxed HTML sample's blocked script are not errors of the app.
_BENIGN = ("GPU stall", "GL Driver", "willReadFrequently", "Blocked script execution", "WebGL")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on(
        "console",
        lambda m: page.errors.append(m.text) if m.type == "error" and not any(b in m.text for b in _BENIGN) else None,
    )
    page.on("pageerror", lambda e: page.errors.append(f"uncaught: {e}"))
    yield page
    assert page.errors == [], page.errors
    context.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _series_count(page, title: str) -> int:
    return page.evaluate(
        """title => {
        const plot = document.querySelector(`.chart[data-title="${title}"] .js-plotly-plot`);
        return plot && plot.data ? plot.data.filter(t => t.showlegend !== false).length : 0;
    }""",
        title,
    )


def _points(page, title: str) -> int:
    return page.evaluate(
        """title => {
        const plot = document.querySelector(`.chart[data-title="${title}"] .js-plotly-plot`);
        return plot && plot.data ? Math.max(0, ...plot.data.map(t => t.x.length)) : 0;
    }""",
        title,
    )


def test_every_page_and_tab(demo, page):
    page.goto(demo.url)
    expect(page.locator(".project-row")).to_have_count(1)
    expect(page.locator(".project-row")).to_contain_text("ui-demo")
    _shot(page, "projects")
    page.click("text=ui-demo")
    expect(page.locator("table.tasks tbody tr")).to_have_count(3)
    expect(page.locator("table.tasks")).to_contain_text("run lr 0.2")
    page.click("text=Columns…")
    dialog = page.locator("dialog.columns-dialog")
    dialog.get_by_label("loss / train (last)").check()
    dialog.get_by_label("Args / lr").check()
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator("table.tasks thead")).to_contain_text("loss / train (last)")
    expect(page).to_have_url(re.compile(r"cols="))
    expect(page.locator("table.tasks tbody tr", has_text="run lr 0.2")).to_contain_text("0.2")
    page.locator("table.tasks th", has_text="Args / lr").click()
    expect(page.locator("table.tasks tbody tr").first).to_contain_text("run lr 0.1")
    _shot(page, "tasks")
    task = demo.task("run lr 0.1")
    page.click("text=run lr 0.1")
    expect(page.locator(".chart")).to_have_count(2)
    _wait(lambda: _series_count(page, "loss") == 2, "two loss series drawn")
    assert _series_count(page, "accuracy") == 1
    _shot(page, "task-scalars")
    tabs = {
        "execution": "Installed packages",
        "configuration": "batch_size",
        "artifacts": "summary",
        "info": "History",
        "console": "starting run lr 0.1",
        "models": "demo-model",
    }
    for tab, text in tabs.items():
        page.click(f".tabs a[data-tab={tab}]")
        expect(page.locator(f".tab-body[data-tab={tab}]")).to_contain_text(text)
        if tab == "info":
            expect(page.locator(".timeline tbody tr").first).to_be_visible()
        if tab == "artifacts":
            expect(page.locator(".artifact-preview")).to_contain_text('"lr": 0.1')
    page.click(".tabs a[data-tab=plots]")
    expect(page.locator(".plot-card")).to_have_count(9)
    expect(page.locator(".plot-card .main-svg").first).to_be_visible()
    _wait(lambda: page.locator(".plot-card .js-plotly-plot").count() == 9, "every figure rendered")
    _shot(page, "task-plots")
    page.click(".tabs a[data-tab=debug]")
    image = page.locator('.sample[data-title="samples"] img')
    expect(image).to_be_visible()
    _wait(lambda: image.evaluate("img => img.complete && img.naturalWidth") == 16, "the debug image loaded")
    page.locator('.sample[data-title="samples"] .iteration-slider').fill("0")
    expect(page.locator('.sample[data-title="samples"] .caption')).to_contain_text("iteration 0")
    expect(page.locator('.sample[data-title="html"] iframe')).to_have_attribute("sandbox", "")
    page.click(".tabs a[data-tab=models]")
    page.click(".tab-body a[href^='/model/']")
    expect(page.locator("h1")).to_have_text("demo-model")
    expect(page.locator(".page")).to_contain_text("cat")
    page.click(".topbar a[data-nav=models]")
    expect(page.locator("table.models tbody tr")).to_have_count(2)
    _shot(page, "models")
    page.click(".topbar a[data-nav=queues]")
    expect(page.locator(".page h2").first).to_have_text("Queues")
    page.goto(f"{demo.url.rstrip('/')}/task/{task['id']}/scalars?theme=dark")
    _wait(lambda: _series_count(page, "loss") == 2, "the dark chart drawn")
    _shot(page, "task-scalars-dark")
    page.goto(f"{demo.url.rstrip('/')}/tasks?project=ui-demo&theme=dark")
    expect(page.locator("table.tasks tbody tr")).to_have_count(3)
    _shot(page, "tasks-dark")


def test_hostile_name_renders_as_text(demo, page):
    page.goto(f"{demo.url}tasks?project=ui-demo")
    expect(page.locator("table.tasks")).to_contain_text(HOSTILE)
    expect(page.locator("table.tasks")).to_contain_text("<b>bold</b>")
    page.click(f"text={HOSTILE}")
    expect(page.locator("h1.task-name")).to_have_text(HOSTILE)
    expect(page.locator(".chart")).to_have_count(2)
    page.click(".tabs a[data-tab=console]")
    expect(page.locator(".console")).to_contain_text(f"starting {HOSTILE}")
    page.click(".tabs a[data-tab=plots]")
    expect(page.locator('.plot-card[data-title="hostile"] .main-svg').first).to_be_visible()
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0 and page.locator(".tags b").count() == 0


def test_compare_three_tasks(demo, page):
    page.goto(f"{demo.url}tasks?project=ui-demo")
    expect(page.locator("table.tasks tbody tr")).to_have_count(3)
    for row in page.locator("table.tasks tbody tr").all():
        row.locator("input[type=checkbox]").check()
    page.click("text=Compare")
    expect(page).to_have_url(re.compile(r"/compare\?ids="))
    _wait(lambda: _series_count(page, "loss") == 6, "2 loss series of 3 tasks")
    assert _series_count(page, "accuracy") == 3
    _shot(page, "compare")
    page.click(".tabs a[data-tab=params]")
    expect(page.locator("table.compare-params")).to_contain_text("Args/lr")
    expect(page.locator("table.compare-params")).not_to_contain_text("model/batch_size")  # equal: hidden
    page.locator(".diff-only").uncheck()
    expect(page.locator("table.compare-params")).to_contain_text("model/batch_size")
    page.click(".tabs a[data-tab=parallel]")
    expect(page.locator(".parcoords .main-svg").first).to_be_visible()


def test_a_hundred_series(demo, page):
    task = demo.task("run lr 0.2")
    page.goto(f"{demo.url}task/{task['id']}/scalars")
    _wait(lambda: _series_count(page, "layers") == 100, "100 series drawn")
    page.locator('.chart[data-title="layers"]').scroll_into_view_if_needed()
    _shot(page, "task-100-series")


def test_zoom_refetches_and_keeps_the_range_in_the_chart(demo, page):
    task = demo.task("run lr 0.2")
    page.goto(f"{demo.url}task/{task['id']}/scalars?smooth=0.5&log=1")
    _wait(lambda: _series_count(page, "loss") == 2, "the loss chart")
    assert page.locator(".smoothing").input_value() == "0.5" and page.locator(".log-scale").is_checked()
    with page.expect_response(lambda r: "/scalars?" in r.url and "x_min=10" in r.url):
        page.evaluate("""() => Plotly.relayout(document.querySelector('.chart[data-title="loss"] .js-plotly-plot'),
                                               {'xaxis.range': [10, 20]})""")
    _wait(lambda: _points(page, "loss") <= 11, "the zoomed data")
    page.select_option(".x-axis", "rel")
    expect(page).to_have_url(re.compile(r"xaxis=rel"))
    hidden = """() => document.querySelector('.chart[data-title="loss"] .js-plotly-plot').data
                       .filter(t => t.visible === 'legendonly').map(t => t.name)"""
    page.locator('.chart[data-title="loss"] .legend .traces', has_text="validation").locator(".legendtoggle").click()
    expect(page).to_have_url(re.compile(r"hide=loss%7Cvalidation"))
    _wait(lambda: "validation" in page.evaluate(hidden), "the series hidden")
    page.reload()
    _wait(
        lambda: _series_count(page, "loss") == 2 and "validation" in page.evaluate(hidden), "still hidden from the URL"
    )


def test_live_console_and_scalars_then_abort(demo, page):
    proc = demo.start(sys.executable, str(SCRIPT), "--name", "live run", "--minimal", "--steps", "5", "--live")
    task = _wait(lambda: next((t for t in demo.tasks() if t["name"] == "live run"), None), "the live task")
    page.goto(f"{demo.url}task/{task['id']}/console")
    expect(page.locator(".console")).to_contain_text("live step 6")
    later = _wait(
        lambda: (
            max((int(n) for n in re.findall(r"live step (\d+)", page.locator(".console").inner_text())), default=0)
            >= 12
        ),
        "the console to grow while open",
    )
    assert later
    page.click(".tabs a[data-tab=scalars]")
    _wait(lambda: _series_count(page, "live") == 1, "the live chart")
    seen = _points(page, "live")
    _wait(lambda: _points(page, "live") > seen, "the live chart to grow in place")
    page.click(".topbar a[data-nav=queues]")
    expect(page.locator("table.workers")).to_contain_text("live run")
    page.go_back()
    page.click("button[data-action=abort]")
    assert proc.wait(120) is not None
    expect(page.locator(".task-head .status")).to_have_text("stopped")
    assert demo.task("live run")["status"] == "stopped"


def test_tag_action(demo, page):
    task = demo.task("run lr 0.2")
    page.goto(f"{demo.url}task/{task['id']}/info")
    page.once("dialog", lambda dialog: dialog.accept("best-so-far"))
    page.click("button[data-action='add tag']")
    expect(page.locator(".task-head .tags")).to_contain_text("best-so-far")
    assert "best-so-far" in demo.task("run lr 0.2")["tags"]


AGENT_TASK = """\
    from fstrack import Task
    task = Task.init()
    params = task.connect({"lr": 0.1})
    print(f"training with lr={params['lr']}")
    task.set_user_properties(lr=params["lr"])
"""


def test_clone_with_an_edited_parameter_runs_on_an_agent(demo, page, tmp_path):
    script = tmp_path / "train_small.py"
    script.write_text(textwrap.dedent(AGENT_TASK))
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""\
        from fstrack import Task
        task = Task.create(project_name="ui-agent", task_name="template", script={str(script)!r})
        task.set_parameters({{"General/lr": 0.1}})
        print(task.id)
        """),
        ],
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    template = made.stdout.strip()
    demo.start(
        sys.executable,
        "-m",
        "fstrack",
        "agent",
        "--queue",
        "ui-agent",
        "--workdir",
        str(tmp_path / "work"),
        "--watchdog-interval",
        "0",
    )
    page.goto(f"{demo.url}task/{template}/configuration")
    page.click("button[data-action=clone]")
    page.fill(".clone-dialog input[data-param='General/lr']", "0.7")
    page.fill(".clone-queue", "ui-agent")
    page.click(".clone-submit")
    expect(page).not_to_have_url(re.compile(template))
    clone_id = page.url.rstrip("/").split("/task/")[1].split("/")[0]
    expect(page.locator(".task-head .status")).to_have_text("completed")
    done = next(t for t in demo.tasks() if t["id"] == clone_id)
    assert done["status"] == "completed"
    page.click(".tabs a[data-tab=console]")
    expect(page.locator(".console")).to_contain_text("training with lr=0.7")
    page.click(".topbar a[data-nav=queues]")
    expect(page.locator('table.queues tr[data-queue="ui-agent"]')).to_contain_text("empty")


def test_token_required_when_bound_to_another_address(demo, page):
    import httpx

    _proc, url = demo.serve("--host", "0.0.0.0")
    assert "?token=" in url
    port = re.search(r":(\d+)/", url).group(1)
    local = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{local}/api/projects").status_code == 401
    page.goto(f"{local}/?token={url.split('token=')[1]}")
    expect(page.locator(".project-row").first).to_be_visible()
    assert "token" not in page.url  # the cookie carries it; shared links do not
    page.goto(f"{local}/tasks")
    expect(page.locator("table.tasks tbody tr").first).to_be_visible()
