"""A small training-like script tracked by fstrack, then read back.

Run:  python examples/quickstart.py [--lr 0.05] [--epochs 20]
It writes to the default local store (~/.fstrack/store, or FSTRACK_URL) and prints what was stored.
"""

import argparse
import math
import random

from fstrack import Task

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

task = Task.init(project_name="quickstart", task_name="toy regression", reuse_last_task_id=False)
model = task.connect({"hidden": 32, "activation": "relu", "dropout": 0.1}, name="model")
task.connect_configuration({"dataset": "synthetic", "samples": 256, "noise": 0.1}, name="data")

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
task.set_user_properties(final_loss=round(loss, 6), rmse=round(math.sqrt(loss), 6))
task.close()

stored = Task.get_task(task_id=task.id)
print(f"task {stored.id} in project {stored.get_project_name()!r}: {stored.get_status()}")
print("parameters:", stored.get_parameters(cast=True))
print("configuration 'data':", stored.get_configuration_object_as_dict("data"))
print("results:", stored.get_user_properties(value_only=True))
print(f"see it with:  fstrack show {stored.id}")
