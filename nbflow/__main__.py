"""``python -m nbflow``: the command line (see :mod:`nbflow.cli`)."""

from nbflow.cli import main

raise SystemExit(main())
