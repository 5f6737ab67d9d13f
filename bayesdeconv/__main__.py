"""``python -m bayesdeconv``: the ``bayesdeconv`` command."""

from bayesdeconv.cli import main

raise SystemExit(main())
