"""`python -m cli ...` runs the `graphrag` command from a checkout."""

from cli.main import main

main()
