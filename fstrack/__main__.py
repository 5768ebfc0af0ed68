"""``python -m fstrack``: the ``fstrack`` command."""

from fstrack.cli.main import main

raise SystemExit(main())
