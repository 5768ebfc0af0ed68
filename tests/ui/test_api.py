"""The UI's JSON API over real stores (local, memory://, SeaweedFS), served by uvicorn, read with httpx."""

from __future__ import annotations

import httpx
import pytest

from .conftest import POINTS, SPIKE, SPIKE_AT, fill_store

WRITE = {"X-Requested-With": "fstrack"}
BACKENDS = ["local", "memory", pytest.param("s3", marks=pytest.mark.servers)]


@pytest.fixture
def served(location_factory, ui_server, request):
    location = location_factory(getattr(request, "param", "local"))
    ids = fill_store(location)
    return httpx.Client(base_url=ui_server(location), timeout=60), ids, location


def _ok(response: httpx.Response):
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


@pytest.mark.parametrize("served", BACKENDS, indirect=True)
def test_every_endpoint(served):
    client, ids, location = served
    info = _ok(client.get("/api/info"))
    assert info["read_only"] is False and "storage_options" not in info
    for secret in location.storage_options.values():
        if isinstance(secret, str) and len(secret) > 6:
            assert secret not in client.get("/api/info").text
    projects = {p["name"]: p for p in _ok(client.get("/api/projects"))}
    assert projects["ui/tests"]["own_tasks"] == 3 and projects["ui"]["tasks"] == 4  # archived not counted
    assert projects["ui/tests"]["counts"]["queued"] == 1
    table = _ok(client.get("/api/tasks", params={"project": "ui/tests", "column": "name,status"}))
    assert table["total"] == 3 and {r["name"] for r in table["rows"]} == {"alpha", "beta", "waiting"}
    columns = _ok(client.get("/api/columns", params={"project": "ui/tests"}))
    assert any(m["title"] == "loss" and m["series"] == "train" for m in columns["metrics"])
    assert "param/General/lr" in [p["id"] for p in columns["params"]]
    main = ids["main"]
    task = _ok(client.get(f"/api/tasks/{main}"))
    assert task["name"] == "alpha" and task["hyperparams"]["General"]["lr"]["value"] == "0.1"
    assert [e["status"] for e in _ok(client.get(f"/api/tasks/{main}/history"))][0] == "created"
    scalars = _ok(client.get(f"/api/tasks/{main}/scalars", params={"buckets": 500}))
    train = next(s for s in scalars["series"] if s["series"] == "train")
    assert len(train["x"]) <= 500 and max(train["max"]) == SPIKE and train["count"] == POINTS
    titles = _ok(client.get(f"/api/tasks/{main}/scalars/titles"))["titles"]
    assert titles[0]["title"] == "loss" and {s["name"] for s in titles[0]["series"]} == {"train", "validation"}
    console = _ok(client.get(f"/api/tasks/{main}/console"))
    assert [r["message"] for r in console["rows"]][-1] == "console line 29"
    plots = _ok(client.get(f"/api/tasks/{main}/plots"))["plots"]
    assert {p["title"] for p in plots} == {"weights", "confusion"} and all(p["figure"]["data"] for p in plots)
    samples = _ok(client.get(f"/api/tasks/{main}/debug_samples"))["samples"]
    image = samples[0]["events"][0]
    picture = client.get(
        f"/api/objects/{image['object']}", params={"name": image["name"], "type": image["content_type"]}
    )
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert picture.headers["content-security-policy"].startswith("sandbox")
    artifacts = {a["name"]: a for a in _ok(client.get(f"/api/tasks/{main}/artifacts"))}
    assert _ok(client.get(f"/api/tasks/{main}/artifacts/summary/preview"))["value"] == {"loss": 0.25}
    assert _ok(client.get(f"/api/tasks/{main}/artifacts/notes/preview"))["text"] == "plain text"
    assert artifacts["summary"]["object"]
    models = _ok(client.get("/api/models"))
    assert [m["name"] for m in models] == ["net"]
    model = _ok(client.get(f"/api/models/{ids['model']}"))
    assert model["labels"] == {"cat": 0} and model["task"] == main
    assert _ok(client.get(f"/api/models/{ids['model']}/scalars"))["series"] == []
    assert _ok(client.get(f"/api/models/{ids['model']}/plots"))["plots"] == []
    queues = _ok(client.get("/api/queues"))
    assert queues["queues"][0]["name"] == "gpu" and queues["queues"][0]["pending"][0]["task"] == ids["queued"]
    compare = _ok(client.get("/api/compare", params={"tasks": f"{main},{ids['second']}"}))
    assert [t["params"]["General/lr"] for t in compare["tasks"]] == ["0.1", "0.2"]
    overlay = _ok(
        client.get("/api/compare/scalars", params={"tasks": f"{main},{ids['second']}", "buckets": 100, "title": "loss"})
    )
    assert [len(t["series"]) for t in overlay["tasks"]] == [2, 1]
    tagged = _ok(client.post(f"/api/tasks/{main}/actions/tags", json={"add": ["ui"]}, headers=WRITE))
    assert "ui" in tagged["tags"]
    assert client.get("/").status_code == 200 and "text/html" in client.get("/tasks").headers["content-type"]
    assert client.get("/static/plotly.min.js").status_code == 200


def test_tasks_table_filters_sorts_and_pages(served):
    client, ids, _ = served

    def names(**params):
        params.setdefault("column", "name")
        return [r["name"] for r in _ok(client.get("/api/tasks", params=params))["rows"]]

    assert names(project="ui/tests", sort="name") == ["alpha", "beta", "waiting"]
    assert names(project="ui/tests", sort="-name") == ["waiting", "beta", "alpha"]
    assert names(project="ui", subprojects=1, sort="name")[0] == "<img src=x onerror=alert(1)>"
    assert names(project="ui/tests", archived=1) == ["old"]
    assert names(project="ui/tests", tag="fast") == ["alpha"]
    assert names(project="ui/tests", tag="-fast", sort="name") == ["beta", "waiting"]
    assert names(project="ui/tests", name="^al") == ["alpha"]
    assert names(project="ui/tests", status="queued") == ["waiting"]
    assert names(project="ui/tests", sort="-param/General/lr") == ["beta", "alpha", "waiting"]  # missing: last
    assert names(project="ui/tests", sort="metric/loss/train/max") == ["beta", "alpha", "waiting"]
    page = _ok(
        client.get(
            "/api/tasks",
            params={
                "project": "ui/tests",
                "sort": "name",
                "offset": 1,
                "limit": 1,
                "column": "name,param/General/lr,metric/loss/train/last",
            },
        )
    )
    assert page["total"] == 3 and page["rows"] == [
        {"id": ids["second"], "name": "beta", "param/General/lr": "0.2", "metric/loss/train/last": 0.5}
    ]
    bad = client.get("/api/tasks", params={"column": "nonsense"})
    assert bad.status_code == 400 and "'nonsense'" in bad.json()["error"]
    bad = client.get("/api/tasks", params={"name": "(unclosed"})
    assert bad.status_code == 400 and "(unclosed" in bad.json()["error"]
    assert client.get("/api/tasks", params={"limit": "many"}).json()["error"] == "limit must be an integer, got 'many'"
    assert client.get(f"/api/tasks/{'0' * 32}").status_code == 404
    assert client.get("/api/tasks/not-an-id").status_code == 404


def test_downsampling_keeps_the_spike_at_every_zoom(served):
    client, ids, _ = served
    main = ids["main"]
    for x_min, x_max in ((None, None), (0, 19_999), (4_000, 6_000), (4_990, 5_010), (5_000, 5_000)):
        data = _ok(
            client.get(
                f"/api/tasks/{main}/scalars", params={"title": "loss", "buckets": 200, "x_min": x_min, "x_max": x_max}
            )
        )
        train = next(s for s in data["series"] if s["series"] == "train")
        assert len(train["x"]) <= 200 and max(train["max"]) == SPIKE, (x_min, x_max)
        assert all(lo <= hi for lo, hi in zip(train["min"], train["max"]))
    outside = _ok(client.get(f"/api/tasks/{main}/scalars", params={"x_min": 6_000, "x_max": 7_000}))
    assert all(max(s["max"]) < SPIKE for s in outside["series"])
    narrow = _ok(client.get(f"/api/tasks/{main}/scalars", params={"x_min": SPIKE_AT - 2, "x_max": SPIKE_AT + 2}))
    train = next(s for s in narrow["series"] if s["series"] == "train")
    assert train["x"] == [SPIKE_AT - 2, SPIKE_AT - 1, SPIKE_AT, SPIKE_AT + 1, SPIKE_AT + 2]  # raw points when few
    timed = _ok(client.get(f"/api/tasks/{main}/scalars", params={"x_axis": "time", "band": 0, "buckets": 10}))
    assert timed["t0"] and "min" not in timed["series"][0] and timed["series"][0]["x"][0] >= timed["t0"]
    assert client.get(f"/api/tasks/{main}/scalars", params={"buckets": 0}).status_code == 400
    assert client.get(f"/api/tasks/{main}/scalars", params={"x_axis": "epoch"}).status_code == 400
    assert client.get(f"/api/tasks/{main}/scalars", params={"x_min": 5, "x_max": 1}).status_code == 400


def test_live_updates_read_only_what_is_new(served):
    from fstrack import Task

    client, ids, _ = served
    main = ids["main"]
    first = _ok(client.get(f"/api/tasks/{main}/scalars", params={"title": "loss"}))
    assert _ok(client.get(f"/api/tasks/{main}/scalars", params={"since": first["position"]})) == {
        "unchanged": True,
        "position": first["position"],
    }
    console = _ok(client.get(f"/api/tasks/{main}/console", params={"after": 27}))
    assert [r["message"] for r in console["rows"]] == ["console line 28", "console line 29"]
    cursor = console["next"]
    task = Task.get_task(task_id=main)
    task.get_logger().report_scalar("loss", "train", 2.0, iteration=POINTS)
    task.get_logger().report_text("one more line")
    task.flush(wait_for_uploads=True)
    grown = _ok(client.get(f"/api/tasks/{main}/scalars", params={"since": first["position"], "title": "loss"}))
    assert grown["position"] > first["position"]
    assert next(s for s in grown["series"] if s["series"] == "train")["count"] == POINTS + 1
    fresh = _ok(client.get(f"/api/tasks/{main}/console", params={"after": cursor}))
    assert [r["message"] for r in fresh["rows"]] == ["one more line"] and fresh["next"] == cursor + 1
    found = _ok(client.get(f"/api/tasks/{main}/console", params={"q": "LINE 1"}))
    assert [r["message"] for r in found["rows"]][:2] == ["console line 1", "console line 10"]


def test_objects_are_never_rendered_in_the_app_origin(served):
    client, ids, _ = served
    from fstrack.records import config

    oid = config.get_store().put(b"<script>alert(1)</script>")
    html = client.get(f"/api/objects/{oid}", params={"name": "x.html", "type": "text/html"})
    assert html.headers["content-security-policy"].startswith("sandbox")
    assert html.headers["x-content-type-options"] == "nosniff"
    unknown = client.get(f"/api/objects/{oid}", params={"name": "x.bin", "type": "application/x-thing"})
    assert unknown.headers["content-type"] == "application/octet-stream"
    assert unknown.headers["content-disposition"].startswith("attachment")
    forced = client.get(f"/api/objects/{oid}", params={"name": "../../x.png", "download": 1})
    assert forced.headers["content-disposition"] == 'attachment; filename="x.png"'
    assert client.get(f"/api/objects/{'ab' * 32}").status_code == 404
    assert client.get("/api/objects/zz").status_code == 400
    page = client.get("/tasks")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_actions_write_through_the_task_api(served):
    from fstrack import Task

    client, ids, _ = served
    main, queued = ids["main"], ids["queued"]

    def act(task_id, action, **body):
        return client.post(f"/api/tasks/{task_id}/actions/{action}", json=body, headers=WRITE)

    assert _ok(act(main, "tags", add=["x"], remove=["fast"]))["tags"] == ["baseline", "x"]
    _ok(act(main, "rename", name="alpha 2"))
    _ok(act(main, "comment", comment="hello"))
    _ok(act(main, "archive"))
    task = Task.get_task(task_id=main)
    assert (task.name, task.comment, task.get_archived()) == ("alpha 2", "hello", True)
    _ok(act(main, "restore"))
    clone = _ok(act(main, "clone", name="tuned", parameters={"General/lr": "0.5"}, queue="cpu"))
    copy = Task.get_task(task_id=clone["id"])
    assert copy.get_parameter("General/lr") == "0.5" and copy.get_status() == "queued" and copy.parent == main
    _ok(act(clone["id"], "dequeue"))
    assert Task.get_task(task_id=clone["id"]).get_status() == "created"
    _ok(act(clone["id"], "enqueue", queue="cpu"))
    assert _ok(act(queued, "abort"))["was"] == "queued"
    assert Task.get_task(task_id=queued).get_status() == "stopped"
    _ok(act(queued, "publish"))
    assert Task.get_task(task_id=queued).get_status() == "published"
    _ok(act(ids["second"], "delete"))
    assert client.get(f"/api/tasks/{ids['second']}").status_code == 404
    refused = act(main, "abort")
    assert refused.status_code == 409 and "only a running or queued task" in refused.json()["error"]
    assert act(main, "explode").status_code == 400 and "'explode'" in act(main, "explode").json()["error"]
    assert act(main, "rename", name=5).json()["error"] == "name must be a string, got 5"
    no_header = client.post(f"/api/tasks/{main}/actions/archive", json={})
    assert no_header.status_code == 403
    cross = client.post(
        f"/api/tasks/{main}/actions/archive", json={}, headers={**WRITE, "Origin": "http://evil.example"}
    )
    assert cross.status_code == 403 and "cross-origin" in cross.json()["error"]
    assert not Task.get_task(task_id=main).get_archived()


def test_read_only_token_and_host_checks(location_factory, ui_server):
    location = location_factory("local")
    ids = fill_store(location)
    read_only = httpx.Client(base_url=ui_server(location, read_only=True))
    assert read_only.get("/api/info").json()["read_only"] is True
    refused = read_only.post(f"/api/tasks/{ids['main']}/actions/archive", json={}, headers=WRITE)
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    base = ui_server(location, token="s3cret")
    assert httpx.get(f"{base}/api/projects").status_code == 401
    assert httpx.get(f"{base}/tasks").status_code == 401
    assert httpx.get(f"{base}/api/projects", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    with httpx.Client(base_url=base) as browser:
        first = browser.get("/", params={"token": "s3cret"})
        assert first.status_code == 200 and "httponly" in first.headers["set-cookie"].lower()
        assert browser.get("/api/projects").status_code == 200  # the cookie carries the token from now on
    assert httpx.get(f"{base}/api/projects", params={"token": "wrong"}).status_code == 401
    guarded = ui_server(location, check_host=True)
    assert httpx.get(f"{guarded}/api/info").status_code == 200
    assert httpx.get(f"{guarded}/api/info", headers={"Host": "attacker.example:80"}).status_code == 403


def test_hostile_strings_come_back_verbatim(served):
    client, ids, _ = served
    task = _ok(client.get(f"/api/tasks/{ids['hostile']}"))
    assert task["name"] == "<img src=x onerror=alert(1)>" and task["tags"] == ["<script>alert(2)</script>"]
    assert client.get(f"/api/tasks/{ids['hostile']}").headers["content-type"] == "application/json"


def test_task_page_url_comes_from_the_ui_setting(location_factory, isolated_tasks, monkeypatch, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from fstrack import Task
    from fstrack.records import config

    location = location_factory("local")
    config.set_store(location.url)
    task = Task.create(project_name="ui/url", task_name="t")
    monkeypatch.delenv("FSTRACK_UI_URL", raising=False)
    monkeypatch.setenv("FSTRACK_CONFIG", str(tmp_path / "config.json"))
    assert task.get_output_log_web_page() == f"fstrack show {task.id} --url {location.url}"
    set_ui = subprocess.run(
        [sys.executable, "-m", "fstrack", "config", "--set-ui-url", "http://team-ui:8080/"],
        env={**os.environ, "FSTRACK_CONFIG": str(tmp_path / "config.json")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert set_ui.returncode == 0, set_ui.stderr
    assert json.loads((tmp_path / "config.json").read_text())["ui_url"] == "http://team-ui:8080/"
    assert task.get_output_log_web_page() == f"http://team-ui:8080/task/{task.id}"
    monkeypatch.setenv("FSTRACK_UI_URL", "http://box:9000/?token=abc")
    assert Task.get_task_output_log_web_page(task.id) == f"http://box:9000/task/{task.id}?token=abc"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(FSTRACK_URL=location.url, FSTRACK_UI_URL="http://box:9000", FSTRACK_CACHE_DIR=str(tmp_path / "c"))
    code = "from fstrack import Task; t = Task.init(project_name='ui/url', task_name='script'); print(t.id)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"(see it at: http://box:9000/task/{done.stdout.strip()})" in done.stderr


def test_cli_ui_options(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env["FSTRACK_CACHE_DIR"] = str(tmp_path / "cache")

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "fstrack", *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )

    helped = run("ui", "--help")
    assert helped.returncode == 0 and "--read-only" in helped.stdout and "--token" in helped.stdout
    bad = run("ui", str(tmp_path / "store"), "--port", "70000")
    assert bad.returncode == 2 and "port must be an integer in 0..65535, got 70000" in bad.stderr
    empty = run("ui", str(tmp_path / "store"), "--token", " ")
    assert empty.returncode == 2 and "token must not be empty" in empty.stderr
    missing = run("ui", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "no fstrack store at" in missing.stderr
    assert not (tmp_path / "nothing-here").exists()  # the UI created nothing


def test_hyperparameters_are_remembered_on_the_machine_between_runs(location_factory, isolated_tasks, monkeypatch):
    from fstrack.records import config
    from fstrack.ui.views import StoreView

    location = location_factory("local")
    ids = fill_store(location)
    first = StoreView(config.get_taskdb())
    rows = first.tasks(project="ui/tests", sort="param/General/lr", columns=["name"])["rows"]
    assert [r["name"] for r in rows] == ["alpha", "beta", "waiting"]
    loads = []
    second = StoreView(config.get_taskdb())
    monkeypatch.setattr(second.db, "load", loads.append)  # any manifest read would show here
    again = second.tasks(project="ui/tests", sort="param/General/lr", columns=["name", "param/General/lr"])["rows"]
    assert [r["param/General/lr"] for r in again] == ["0.1", "0.2", None] and loads == []
    assert ids["main"] == again[0]["id"]


def test_event_logs_keep_a_bounded_number_of_rows(location_factory, isolated_tasks):
    from fstrack.records import config
    from fstrack.ui.events import EventLogs

    location = location_factory("local")
    ids = fill_store(location)
    logs = EventLogs(config.get_taskdb().refs, max_rows=1_000)
    big = logs.get(ids["main"], 1)
    assert big.table("scalars").num_rows > 1_000 and big.rows > 1_000
    small = logs.get(ids["second"], 1)
    assert small.table("scalars").num_rows == 1
    assert logs.get(ids["second"], 1) is small and logs.get(ids["main"], 1) is not big  # the big one was dropped


def test_a_reset_task_starts_its_events_over(served):
    from fstrack import Task

    client, ids, _ = served
    main = ids["main"]
    before = _ok(client.get(f"/api/tasks/{main}/console"))
    assert before["run"] == 1 and before["total"] == 30
    assert _ok(client.get(f"/api/tasks/{main}/scalars", params={"title": "loss"}))["series"]
    Task.get_task(task_id=main).reset(force=True)
    after = _ok(client.get(f"/api/tasks/{main}/console", params={"after": before["next"]}))
    assert after["run"] == 2 and after["total"] == 0 and after["rows"] == []
    assert _ok(client.get(f"/api/tasks/{main}/scalars"))["series"] == []
