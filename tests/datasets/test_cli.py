"""The data commands end to end, and every bad input: one line on stderr, exit != 0, no file that looks valid."""

from __future__ import annotations

import importlib.util

import h5py
import numpy as np
import pytest

from phylaw.cli.main import main
from phylaw.datasets import open_dataset


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_generate_inspect_preview_convert_merge(tmp_path, capsys):
    out = tmp_path / "u.h5"
    code, text, _ = run(capsys, "generate", "uniform_motion", "--split", "eval", "--out", out,
                        "--resolution", "16", "--limit", "12", "--quiet")  # fmt: skip
    assert code == 0
    assert "wrote" in text
    code, text, _ = run(capsys, "inspect", out)
    assert code == 0
    assert "uniform_motion" in text
    assert "id/id:" in text
    assert "stored" in text
    for name, extra in (
        ("one.gif", ["--index", "3"]),
        ("grid.mp4", ["--grid", "4"]),
        ("sheet.png", ["--index", "0,5,9"]),
    ):
        code, _, err = run(capsys, "preview", out, "--out", tmp_path / name, *extra)
        assert code == 0, err
        assert (tmp_path / name).stat().st_size > 100
    for i in range(2):
        assert run(capsys, "generate", "uniform_motion", "--split", "eval", "--out", tmp_path / "s" / "u.h5",
                   "--resolution", "16", "--limit", "12", "--shard", f"{i}/2", "--quiet")[0] == 0  # fmt: skip
    assert run(capsys, "merge", tmp_path / "s", "--out", tmp_path / "m.h5", "--quiet")[0] == 0
    np.testing.assert_array_equal(open_dataset(tmp_path / "m.h5").frames(7), open_dataset(out).frames(7))
    assert run(capsys, "convert", out, "--to", "phyworld", "--out", tmp_path / "pw.hdf5", "--quiet")[0] == 0
    assert (
        run(capsys, "convert", tmp_path / "pw.hdf5", "--to", "phylaw", "--out", tmp_path / "b.h5", "--quiet")[
            0
        ]
        == 0
    )
    np.testing.assert_array_equal(open_dataset(tmp_path / "b.h5").params, open_dataset(out).params)


GEN = ("generate", "uniform_motion", "--split", "eval", "--limit", "4", "--resolution", "16", "--quiet")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("generate", "sliding_block", "--split", "eval"), ("unknown scenario", "sliding_block")),
        (("generate", "collision", "--split", "train-1b"), ("unknown split", "train-1b")),
        ((*GEN, "--resolution", "4"), ("resolution", "8")),
        ((*GEN, "--ranges", "mine"), ("range set", "mine")),
        ((*GEN, "--shard", "2/2"), ("--shard",)),
        ((*GEN, "--workers", "-1"), ("--workers",)),  # checked before a .partial file is created
        ((*GEN, "--backend", "ray"), ("ray",)),
        (
            ("generate", "uniform_motion", "--split", "g", "--values", "r=-0.5,1", "--values", "v=1,2"),
            ("radius <= 0",),
        ),
        (
            ("generate", "uniform_motion", "--split", "g", "--values", "r=4.9", "--values", "v=1"),
            ("too big",),
        ),
        (
            (
                "generate",
                "collision",
                "--split",
                "g",
                "--values",
                "r1=3",
                "--values",
                "r2=3",
                "--values",
                "v1=1",
                "--values",
                "v2=1",
            ),
            ("too big",),
        ),
    ],
)
def test_bad_generate_arguments(tmp_path, capsys, args, words):
    if "--backend" in args and importlib.util.find_spec("ray") is not None:
        pytest.skip("ray is installed: --backend ray is not an error here")
    code, _, err = run(capsys, *args, "--out", tmp_path / "x.h5")
    assert_one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_corrupt_files(tmp_path, capsys, stored_collision):
    data = stored_collision.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 3])
    for cmd in (("inspect", trunc), ("preview", trunc, "--out", tmp_path / "p.png"),
                ("convert", trunc, "--to", "phyworld", "--out", tmp_path / "pw.hdf5")):  # fmt: skip
        code, _, err = run(capsys, *cmd)
        assert_one_line_error(code, err, "trunc.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trunc.h5"]
    # a file whose frame chunks were overwritten with garbage: the read fails with one line
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(data)
    with h5py.File(bad, "r") as f:
        offset = f["frames"].id.get_chunk_info(2).byte_offset
    raw = bytearray(data)
    raw[offset : offset + 64] = b"\x00" * 64
    bad.write_bytes(bytes(raw))
    code, _, err = run(capsys, "preview", bad, "--index", "2", "--out", tmp_path / "g.png")
    assert_one_line_error(code, err, "garbage.h5")
    assert not (tmp_path / "g.png").exists()
    code, _, err = run(capsys, "inspect", tmp_path / "missing.h5")
    assert_one_line_error(code, err, "missing.h5")


def test_bad_phyworld_file_and_preview_arguments(tmp_path, capsys, stored_collision):
    src = tmp_path / "pw.hdf5"
    with h5py.File(src, "w") as f:
        f["position_streams/00000"] = np.zeros((2, 32, 2))
        f["init_streams/00000"] = np.ones((2, 2))
    code, _, err = run(capsys, "convert", src, "--to", "phylaw", "--out", tmp_path / "o.h5")
    assert_one_line_error(code, err, "video_streams")
    code, _, err = run(capsys, "convert", src, "--to", "other", "--out", tmp_path / "o.h5")
    assert_one_line_error(code, err, "--to")
    code, _, err = run(
        capsys, "convert", tmp_path / "none.hdf5", "--to", "phylaw", "--out", tmp_path / "o.h5"
    )
    assert_one_line_error(code, err, "none.hdf5: no such file")  # not "truncated or corrupt?"
    code, _, err = run(capsys, "preview", stored_collision, "--index", "99", "--out", tmp_path / "a.gif")
    assert_one_line_error(code, err, "out of range")
    code, _, err = run(capsys, "preview", stored_collision, "--out", tmp_path / "a.avi")
    assert_one_line_error(code, err, ".gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw.hdf5"]


def test_preview_mp4_pads_odd_sizes_instead_of_cropping(tmp_path, capsys):
    import imageio.v3 as iio

    out = tmp_path / "odd.h5"
    assert run(capsys, "generate", "uniform_motion", "--split", "eval", "--out", out, "--resolution", "17",
               "--limit", "2", "--quiet")[0] == 0  # fmt: skip
    assert run(capsys, "preview", out, "--index", "0", "--out", tmp_path / "odd.mp4")[0] == 0
    movie = iio.imread(tmp_path / "odd.mp4", plugin="pyav")  # (T, H, W, 3)
    assert movie.shape[1:3] == (18, 18)  # 17 px of video + one white row and column for H.264
    assert movie[:, 17, :, :].min() > 200  # the padding is white, the video's last row is kept above it
