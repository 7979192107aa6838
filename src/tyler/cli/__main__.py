"""`python -m tyler.cli` (same as the `tyler` command)."""

from . import main

main()
