"""Worker: run an ``fstrack`` agent-side command on a test's store.

argv: location-json command [args...]; command is "agent", "abort" or "watchdog" (fstrack.cli.agent.main_*).
The location's URL and storage options reach the command (and the tasks it runs) through FSTRACK_URL and
FSTRACK_STORAGE_OPTIONS, as a user's environment would carry them.
"""

import json
import os
import sys

location = json.loads(sys.argv[1])
for key, value in location["env"].items():
    os.environ.setdefault(key, value)
os.environ["FSTRACK_URL"] = location["url"]
os.environ["FSTRACK_STORAGE_OPTIONS"] = json.dumps(location["storage_options"])

from fstrack.cli import agent  # noqa: E402

command, args = sys.argv[2], sys.argv[3:]
entry = {"agent": agent.main_agent, "abort": agent.main_abort, "watchdog": agent.main_watchdog}[command]
sys.exit(entry(args))
