"""``python -m phylaw``: the same command line as the ``phylaw`` script (for environments without it on PATH)."""

from phylaw.cli.main import entry

if __name__ == "__main__":
    entry()
