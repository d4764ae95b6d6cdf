from __future__ import annotations

import numpy as np

from phylaw.cli.main import main
from phylaw.seeding import child_rng, derive_seed


def test_derive_seed_is_stable_and_key_sensitive():
    assert derive_seed(42, "uniform_motion", 3) == derive_seed(42, "uniform_motion", 3)
    assert derive_seed(42, "uniform_motion", 3) != derive_seed(42, "uniform_motion", 4)
    assert derive_seed(42, "a") != derive_seed(43, "a")
    assert 0 <= derive_seed(0) < 2**63


def test_child_rng_reproducible():
    a = child_rng(1, "x").random(5)
    b = child_rng(1, "x").random(5)
    np.testing.assert_array_equal(a, b)


def test_cli_unknown_command_exits_nonzero(capsys):
    assert main(["no-such-command"]) != 0


def _fake_cli(monkeypatch, exc: BaseException) -> None:
    """Swap phylaw's CLI for an app with two commands: ``boom`` raises ``exc``, ``ok`` succeeds."""
    import typer

    import phylaw.cli.main as cli_main

    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def ok() -> None:
        pass

    monkeypatch.setattr(cli_main, "app", app)
    monkeypatch.setattr(cli_main, "_register", lambda: None)


def test_cli_ctrl_c_exits_130_not_0(monkeypatch, capsys):
    """typer returns Ctrl-C as exit code 130 in non-standalone mode: main must not turn it into success."""
    _fake_cli(monkeypatch, KeyboardInterrupt())
    assert main(["boom"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert main(["ok"]) == 0


def test_cli_out_path_that_is_a_file_is_one_line(tmp_path, capsys):
    """`--out` naming an existing file (a directory is needed) is a one-line error, not a traceback."""
    from phylaw.datasets.build import generate

    data = generate("uniform_motion", "eval-small", tmp_path / "d.h5", resolution=16, limit=2, progress=False)
    (tmp_path / "afile").write_text("x")
    assert main(["evaluate", "--data", str(data), "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:"), err
    assert (tmp_path / "afile").read_text() == "x"


def test_cli_memory_error_is_one_line(monkeypatch, capsys):
    _fake_cli(monkeypatch, MemoryError("Unable to allocate 894. GiB for an array"))
    assert main(["boom"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: out of memory: Unable to allocate 894. GiB for an array"]


def test_cli_usage_errors_are_one_line(capsys):
    """A typo in an option or a missing argument: one `error:` line naming the problem and the help command."""
    for argv, needle in (
        (["generate", "--bogus"], "--bogus"),
        (["generate"], "scenario"),
        (["no-such"], "no-such"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        assert err.startswith("error: ")
        assert needle in err
        assert "--help" in err


def test_cli_help_still_prints_usage(capsys):
    assert main(["generate", "--help"]) == 0
    assert "Usage" in capsys.readouterr().out
