"""`python -m scones.cli` runs the CLI (what the console script `scones` does)."""

from scones.cli import main

main()
