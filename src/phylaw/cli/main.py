"""The ``phylaw`` command line: a thin Typer app; each stage registers its commands from its own module."""

from __future__ import annotations

import logging
import os
import sys

import typer

from phylaw.errors import PhylawError

app = typer.Typer(
    name="phylaw",
    help="phylaw: can a video generation model learn physical laws from video alone?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("version")
def version() -> None:
    """Print the phylaw version."""
    from phylaw import __version__

    typer.echo(__version__)


def _register() -> None:
    from phylaw.cli import data, evaluate, experiments, judge, model, studies

    for module in (data, evaluate, model, experiments, studies, judge):
        module.register(app)


INTERRUPTED = "interrupted: run the same command again to resume (train, train-vae: with --resume)"


def _say_interrupted() -> None:
    """One "interrupted" line per job: not from training ranks that phylaw started itself (their launcher says
    it), and under a plain torchrun only from rank 0."""
    if "PHYLAW_LAUNCHER_PID" not in os.environ and os.environ.get("RANK", "0") == "0":
        typer.echo(INTERRUPTED, err=True)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: turns PhylawError (and a few common file errors) into one line and exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _register()
    try:
        # typer (standalone_mode=False) turns Ctrl-C into Exit(130) and *returns* an Exit's code
        rv = app(args=argv, standalone_mode=False)
    except PhylawError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        _say_interrupted()
        return 130
    except (
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,
    ) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except MemoryError as exc:  # e.g. numpy refusing a huge --resolution
        typer.echo(
            f"error: out of memory: {str(exc).splitlines()[0] if str(exc) else 'MemoryError'}", err=True
        )
        return 2
    except SystemExit as exc:  # typer/click usage errors
        return int(exc.code or 0)
    except Exception as exc:
        # usage errors of typer's (vendored) click: they know how to print themselves
        exit_code = getattr(exc, "exit_code", None)
        if exit_code is None:
            raise
        fmt = getattr(exc, "format_message", None)
        if callable(fmt) and int(exit_code) != 0:
            ctx = getattr(exc, "ctx", None)
            path = getattr(ctx, "command_path", None) or "phylaw"
            typer.echo(f"error: {fmt()} (see '{path} --help')", err=True)
        elif callable(getattr(exc, "show", None)):
            exc.show()
        return int(exit_code)
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:  # commands themselves return None
        if rv == 130:
            _say_interrupted()
        return rv
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
