"""`python -m waystation.cli …`: the `waystation` command where the console script is not
installed (a checkout on PYTHONPATH)."""

from waystation.cli import main

main()
