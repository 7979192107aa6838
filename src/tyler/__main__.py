"""`python -m tyler` (same as the `tyler` command)."""

from .cli import main

main()
