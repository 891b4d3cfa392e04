"""``python -m facexpr``: the same command line as the ``facexpr`` console script."""

from facexpr.cli import main

main()
