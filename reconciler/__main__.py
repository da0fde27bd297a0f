"""``python -m reconciler`` and the ``reconciler`` console script."""

import sys


def main() -> None:
    """Run the CLI; Ctrl-C while the CLI is still being imported exits 130 quietly too."""
    try:
        from reconciler.cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
