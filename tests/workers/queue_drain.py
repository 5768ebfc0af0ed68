"""Worker: drain a queue through the exactly-once claim; print the task ids it took.

argv: location-json queue-id mode ("work" claims in FIFO order; "dequeue" withdraws entries by name,
newest first, racing the workers).
"""

import sys

from common import emit, open_location, wait_for_go

from fstrack.dispatch.queues import Queues

location, qid, mode = sys.argv[1], sys.argv[2], sys.argv[3]
queues = Queues(open_location(location))
wait_for_go()
taken = []
while True:
    pending = queues.pending(qid)
    if not pending:
        break
    if mode == "dequeue":
        claims = (queues.claim(qid, entry) for entry in reversed(pending))
        taken += [c.task_id for c in claims if c is not None]
    else:
        taken += [c.task_id for c in queues.claims(qid, window=8)]
emit(taken)
