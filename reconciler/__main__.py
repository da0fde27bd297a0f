"""``python -m reconciler`` runs the CLI."""

from reconciler.cli import main

main()
