"""A training-like script reporting every kind of event the UI shows (used by the UI tests and benchmarks).

python demo_run.py --project P --name N [--lr 0.1] [--steps 200] [--live] [--tag T]
``--live`` keeps reporting a scalar and a console line every 0.2 s until the task is aborted.
"""

import argparse
import io
import math
import time

import numpy as np

from fstrack import OutputModel, Task

parser = argparse.ArgumentParser()
parser.add_argument("--project", default="ui-demo")
parser.add_argument("--name", default="demo")
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--tag", action="append", default=[])
parser.add_argument("--live", action="store_true")
parser.add_argument("--minimal", action="store_true", help="scalars and console only")
parser.add_argument("--series", type=int, default=0, help="also report this many series under the title 'layers'")
args = parser.parse_args()

task = Task.init(project_name=args.project, task_name=args.name, tags=args.tag or None, reuse_last_task_id=False)
task.connect({"batch_size": 32, "optimizer": "sgd"}, name="model")
task.connect_configuration({"dataset": "synthetic", "samples": 256}, name="data")
logger = task.get_logger()
print(f"starting {args.name} with lr={args.lr}")
for step in range(args.steps):
    loss = math.exp(-args.lr * step / 20) + 0.01 * math.sin(step)
    logger.report_scalar("loss", "train", loss, iteration=step)
    logger.report_scalar("loss", "validation", loss * 1.1, iteration=step)
    logger.report_scalar("accuracy", "validation", 1 - loss / 2, iteration=step)
    for layer in range(args.series):
        logger.report_scalar("layers", f"layer {layer:03d} gradient norm", loss * (1 + layer / 10), iteration=step)
    if step % 50 == 0:
        print(f"step {step}: loss={loss:.4f}")
if "<" in args.name:  # a hostile name also lands in a figure's title and a console line
    logger.report_plotly(
        "hostile",
        args.name,
        figure={"data": [{"type": "bar", "x": [args.name], "y": [1]}], "layout": {"title": {"text": args.name}}},
        iteration=0,
    )
if not args.minimal:
    rng = np.random.default_rng(0)
    logger.report_histogram("weights", "layer1", values=rng.normal(size=50).tolist(), iteration=args.steps)
    logger.report_confusion_matrix(
        "confusion",
        "validation",
        matrix=[[8, 2], [1, 9]],
        iteration=args.steps,
        xlabels=["cat", "dog"],
        ylabels=["cat", "dog"],
    )
    logger.report_scatter2d(
        "fit",
        "points",
        scatter=[[i, i * i] for i in range(20)],
        iteration=args.steps,
        xaxis="x",
        yaxis="y",
        mode="markers",
    )
    logger.report_scatter3d("cloud", "points", scatter=rng.normal(size=(30, 3)).tolist(), iteration=args.steps)
    logger.report_surface(
        "surface", "bowl", matrix=[[x * x + y * y for x in range(10)] for y in range(10)], iteration=args.steps
    )
    logger.report_table(
        "table",
        "summary",
        iteration=args.steps,
        table_plot=[["metric", "value"], ["loss", f"{loss:.3f}"], ["lr", str(args.lr)]],
    )
    logger.report_line_plot(
        "curves", [{"name": "a", "data": [[0, 1], [1, 2], [2, 1.5]]}], xaxis="x", yaxis="y", iteration=args.steps
    )
    logger.report_plotly(
        "custom",
        "bars",
        figure={"data": [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}], "layout": {}},
        iteration=args.steps,
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([0, 1, 2], [1, 0, 1])
    logger.report_matplotlib_figure("matplotlib", "line", figure=fig, iteration=args.steps)
    for it in (0, 1, 2):
        logger.report_image("samples", "input", iteration=it, image=(rng.random((16, 16, 3)) * 255).astype(np.uint8))
    logger.report_media(
        "html", "page", iteration=0, stream=io.StringIO("<b>hello</b><script>alert(1)</script>"), file_extension=".html"
    )
    logger.report_single_value("final_loss", loss)
    task.upload_artifact("summary", {"loss": loss, "lr": args.lr}, wait_on_upload=True)
    task.upload_artifact("notes", "a plain text artifact", wait_on_upload=True)
    import pandas as pd

    task.upload_artifact("frame", pd.DataFrame({"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25]}), wait_on_upload=True)
    model = OutputModel(task=task, name="demo-model", framework="PyTorch", label_enumeration={"cat": 0, "dog": 1})
    import json
    import os
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "weights.json")
    with open(path, "w") as f:
        json.dump({"w": 1}, f)
    model.update_weights(path, auto_delete_file=False)
if args.live:
    step = args.steps
    while True:
        logger.report_scalar("live", "value", float(step), iteration=step)
        print(f"live step {step}", flush=True)
        step += 1
        task.flush()
        time.sleep(0.2)
task.close()
