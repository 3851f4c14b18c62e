"""`python -m entitlements` runs the command line."""

from .cli import main

main()
