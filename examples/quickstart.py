"""A small training-like script tracked by fstrack, then read back.

Run:  python examples/quickstart.py [--lr 0.05] [--epochs 30]
It writes to the default local store (~/.fstrack/store, or FSTRACK_URL) and prints what was stored.
"""

import argparse
import json
import math
import os
import random
import tempfile

import fstrack
from fstrack import OutputModel, Task

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--epochs", type=int, default=30)
args = parser.parse_args()  # recorded automatically as the task's "Args" parameters

task = Task.init(project_name="quickstart", task_name="toy regression", reuse_last_task_id=False)
model_config = task.connect({"hidden": 32, "activation": "relu", "dropout": 0.1}, name="model")
task.connect_configuration({"dataset": "synthetic", "samples": 256, "noise": 0.1}, name="data")
logger = task.get_logger()

random.seed(0)
weight, bias = random.random(), random.random()
points = [(x / 64, 3.0 * x / 64 + 0.5 + random.gauss(0, 0.1)) for x in range(256)]
for epoch in range(args.epochs):
    grad_w = grad_b = loss = 0.0
    for x, y in points:
        error = weight * x + bias - y
        loss += error * error / len(points)
        grad_w += 2 * error * x / len(points)
        grad_b += 2 * error / len(points)
    weight -= args.lr * grad_w
    bias -= args.lr * grad_b
    logger.report_scalar("loss", "train", loss, iteration=epoch)
    logger.report_scalar("params", "weight", weight, iteration=epoch)

logger.report_scatter2d(
    "fit", "data", scatter=[[x, y] for x, y in points[::8]], iteration=args.epochs, xaxis="x", yaxis="y", mode="markers"
)
logger.report_single_value("rmse", math.sqrt(loss))
task.upload_artifact("predictions", {"weight": weight, "bias": bias}, wait_on_upload=True)

weights_file = os.path.join(tempfile.mkdtemp(), "model.json")
with open(weights_file, "w") as f:
    json.dump({"weight": weight, "bias": bias}, f)
OutputModel(task=task, name="linear", framework="custom").update_weights(weights_file, auto_delete_file=False)
task.close()

stored = Task.get_task(task_id=task.id)
print(f"task {stored.id} in project {stored.get_project_name()!r}: {stored.get_status()}")
print("parameters:", stored.get_parameters(cast=True))
print("last metrics:", stored.get_last_scalar_metrics())
print("artifact 'predictions':", stored.artifacts["predictions"].get())
print("models:", [m.name for m in stored.models["output"]])
frame = fstrack.scalars(project="quickstart", task_ids=[task.id]).to_pandas()
print(f"scalars as pandas: {len(frame)} rows\n{frame.tail(3).to_string(index=False)}")
print(f"see it with:  fstrack show {stored.id}")
page = stored.get_output_log_web_page()
if page.startswith("http"):
    print(f"or in the web UI: {page}")
else:
    print(f"or in the web UI: run `fstrack ui` and open http://127.0.0.1:8765/task/{stored.id}")
