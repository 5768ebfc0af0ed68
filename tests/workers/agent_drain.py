"""Worker: an fstrack agent (the real claim -> lease -> in_progress -> run -> final status path) whose runner
records the task instead of starting a process; or a process racing the agents with ``Task.dequeue``.

argv: location-json queue-name mode [task-ids-file]
  mode "agent": drain the queue with ``Agent(once=True)`` (``--workers`` from AGENT_DRAIN_WORKERS, default 1);
  prints the task ids it ran.
  mode "serve": serve the queue until SIGTERM; prints ``[[task id, claimed at, started at], ...]`` (wall clock:
  when the claim was won, when the task was marked in_progress) for latency measurements.
  mode "claims": drain the queue with the bare claim (``Queues.claims``), no agent; prints the task ids.
  mode "dequeue": ``Task.dequeue`` every task id in the file, newest first; prints the ids it withdrew.
"""

import json
import os
import sys

from common import emit, open_location, wait_for_go

location, queue, mode = sys.argv[1], sys.argv[2], sys.argv[3]
store = open_location(location)
loc = json.loads(location)

import fstrack  # noqa: E402
from fstrack.records import config  # noqa: E402

fstrack.set_store(loc["url"], **loc["storage_options"])
db = config.get_taskdb()
db.load  # noqa: B018 - opened before the release


class RecordingRunner:
    """Runs nothing: records which task this agent would have run."""

    def __init__(self):
        self.ran = []
        self.started = {}

    def execute(self, agent, run):
        self.ran.append(run.task_id)
        self.started[run.task_id] = run.manifest["started"]
        return 0


if mode in ("agent", "serve"):
    import time

    from fstrack.cli.agent import Agent, AgentConfig

    class TimedAgent(Agent):
        def _start(self, claim):
            claimed[claim.task_id] = time.time()
            return super()._start(claim)

    claimed = {}
    runner = RecordingRunner()
    cfg = AgentConfig(
        queues=[queue],
        once=mode == "agent",
        window=8,
        watchdog_interval=0,
        echo=False,
        poll_max=0.2 if mode == "agent" else 1.0,
        workers=int(os.environ.get("AGENT_DRAIN_WORKERS", "1")),
    )
    agent = TimedAgent(db, cfg, runner=runner, log=lambda message: None)
    wait_for_go()
    agent.run()
    emit(runner.ran if mode == "agent" else [[t, claimed[t], runner.started[t]] for t in runner.ran])
elif mode == "claims":
    from fstrack.dispatch.queues import Queues, queue_id

    queues = Queues(db.store)
    wait_for_go()
    emit([claim.task_id for claim in queues.claims(queue_id(queue), window=8)])
else:
    from fstrack import Task
    from fstrack.records.lifecycle import InvalidTransitionError
    from fstrack.sdk.task import UsageError

    with open(sys.argv[4]) as f:
        task_ids = json.load(f)
    from fstrack.dispatch.queues import Queues, queue_id

    queues = Queues(db.store)
    wait_for_go()
    withdrawn = []
    for i, task_id in enumerate(reversed(task_ids)):
        if i % 8 == 0 and not queues.pending(queue_id(queue)):
            break  # the agents took everything: the rest would only fail
        try:
            Task.dequeue(task_id)
        except (UsageError, InvalidTransitionError):
            continue
        withdrawn.append(task_id)
    emit(withdrawn)
