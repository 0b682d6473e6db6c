"""`python -m visionfit.cli ...` runs the command line."""

from visionfit.cli import main

main()
