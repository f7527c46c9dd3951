"""Option ranges are checked at parse time, with a one-line usage error (exit 2)."""

import argparse

import pytest

from tfav import train
from tfav.cli import number_in


def test_number_in_checks_type_range_and_finiteness():
    positive = number_in(int, 1)
    assert positive("3") == 3
    for bad in ("0", "-1", "2.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive(bad)
    rate = number_in(float, 0.0, low_open=True)
    assert rate("1e-4") == 1e-4
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            rate(bad)
    assert number_in(float, 0.0, 1.0)("1.0") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match="must be <= 1.0"):
        number_in(float, 0.0, 1.0)("1.5")


@pytest.mark.parametrize("argv, name", [
    (["--epochs", "0"], "--epochs"), (["--epochs", "-1"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"), (["--steps-per-epoch", "0"], "--steps-per-epoch"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--generator-average", "2"], "--generator-average"),
    (["--hard-wrong-pairs", "1.5"], "--hard-wrong-pairs"), (["--g-steps", "0"], "--g-steps"),
])
def test_train_refuses_out_of_range_options(argv, name, capsys):
    with pytest.raises(SystemExit) as stop:
        train.parse_args(["--task", "s2i_instrument", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {name}" in err and "must be" in err
