"""Entry point for `python -m remediate`."""

from remediate.cli import main

if __name__ == "__main__":
    main()
