"""Fixtures of the UI tests: stores filled through the Task API, and UI servers over them.

``ui_server(location, **options)`` serves ``fstrack.ui.app.create_app`` with uvicorn in a thread of this
process (so ``memory://`` stores work) and returns its base URL. ``fill_store(location)`` writes a small
but complete store (scalars with a spike, console, plots, debug images, artifacts, a model, a queue).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

SPIKE_AT, SPIKE = 5_000, 1_000.0
POINTS = 20_000


@pytest.fixture
def ui_server(isolated_tasks):
    servers = []

    def start(location, **options) -> str:
        import uvicorn

        from fstrack.ui.app import create_app

        app = create_app(location.url, location.storage_options, **options)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the UI server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(30)


def fill_store(location) -> dict[str, str]:
    """Tasks (one with a hostile name, one archived), a model and a queue; returns their ids by role."""
    import numpy as np

    from fstrack import OutputModel, Task
    from fstrack.records import config

    config.set_store(location.url, **location.storage_options)
    main = Task.create(project_name="ui/tests", task_name="alpha")
    main.set_parameters({"General/lr": 0.1, "General/optimizer": "sgd"})
    main.add_tags(["fast", "baseline"])
    logger = main.get_logger()
    values = np.sin(np.arange(POINTS) / 100.0)
    values[SPIKE_AT] = SPIKE
    for i, v in enumerate(values):
        logger.report_scalar("loss", "train", float(v), iteration=i)
    for i in range(0, POINTS, 100):
        logger.report_scalar("loss", "validation", float(values[i]) + 0.1, iteration=i)
    for i in range(30):
        logger.report_text(f"console line {i}")
    logger.report_histogram("weights", "layer1", values=[1, 2, 3, 2, 1], iteration=1)
    logger.report_confusion_matrix("confusion", "val", matrix=[[3, 1], [0, 4]], iteration=1)
    logger.report_image("samples", "input", iteration=1, image=np.zeros((8, 8, 3), dtype=np.uint8))
    main.flush(wait_for_uploads=True)
    main.upload_artifact("summary", {"loss": 0.25}, wait_on_upload=True)
    main.upload_artifact("notes", "plain text", wait_on_upload=True)
    model = OutputModel(task=main, name="net", framework="PyTorch", label_enumeration={"cat": 0})
    model.update_design(config_dict={"layers": 2})
    second = Task.create(project_name="ui/tests", task_name="beta")
    second.set_parameters({"General/lr": 0.2, "General/optimizer": "sgd"})
    second.get_logger().report_scalar("loss", "train", 0.5, iteration=0)
    second.flush(wait_for_uploads=True)
    hostile = Task.create(project_name="ui/tests/deep", task_name="<img src=x onerror=alert(1)>")
    hostile.add_tags(["<script>alert(2)</script>"])
    archived = Task.create(project_name="ui/tests", task_name="old")
    archived.set_archived(True)
    queued = Task.create(project_name="ui/tests", task_name="waiting")
    Task.enqueue(queued, queue_name="gpu")
    return {
        "main": main.id,
        "second": second.id,
        "hostile": hostile.id,
        "archived": archived.id,
        "queued": queued.id,
        "model": model.id,
    }
