"""profiler.base.options and their use in cli.py: every number finite and in range, from flags or env."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from cli import cli
from profiler.base.options import BoundedInt, FiniteFloat, int_list


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e309", "0", "-1", "1e7", "x", "", "True"])
def test_finite_float_refuses_non_finite_and_out_of_range(text):
    with pytest.raises(click.BadParameter):
        FiniteFloat(0, 1e6, low_open=True).convert(text, None, None)


def test_finite_float_accepts_its_bounds_as_declared():
    kind = FiniteFloat(0, 100, high_open=True)
    assert kind.convert("0", None, None) == 0.0 and kind.convert(" 99.5 ", None, None) == 99.5
    with pytest.raises(click.BadParameter, match="at least 0 and below 100"):
        kind.convert("100", None, None)


@pytest.mark.parametrize("text", ["1e3", "2.0", "0x10", "inf", str(2**40), "-1", "", "1_000", "٣"])
def test_bounded_int_refuses_anything_but_plain_whole_numbers_in_range(text):
    with pytest.raises(click.BadParameter):
        BoundedInt(0, 1024).convert(text, None, None)


def test_bounded_int_and_lists_accept_plain_numbers():
    assert BoundedInt(0, 1024).convert("+7", None, None) == 7
    assert int_list("4,1,4,2", 1, 8) == (4, 1, 2)
    with pytest.raises(click.BadParameter, match="'1,9': '9': must be a whole number from 1 to 8"):
        int_list("1,9", 1, 8)


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--time-limit", "nan"], {}, "--time-limit"),
        ([], {"GPUPACK_PLAN_TIME_LIMIT": "nan"}, "--time-limit"),
        (["--seed", str(2**40)], {}, "--seed"),
        (["--workers", str(2**40)], {}, "--workers"),
        ([], {"GPUPACK_PLAN_WORKERS": str(2**40)}, "--workers"),
        (["--gpu-memory", "1" * 30], {}, "--gpu-memory"),
        (["--max-memory", "inf"], {}, "--max-memory"),
        (["--max-memory", "1e308"], {}, "--max-memory"),
        (["--headroom", "nan"], {}, "--headroom"),
        (["--base-port", "0"], {}, "--base-port"),
        ([], {"GPUPACK_PLAN_JSON": "maybe"}, "--json"),
        ([], {"GPUPACK_PLAN_JSNO": "1"}, "did you mean GPUPACK_PLAN_JSON?"),
    ],
)
def test_bad_plan_option_values_are_one_line_exit_2(args, env, words):
    result = CliRunner().invoke(cli, ["plan", *args], env=env)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len([line for line in lines if line.startswith("error:")]) == 1 and words in result.stderr
    assert "Traceback" not in result.output and "Usage:" not in result.output


def test_environment_variables_are_named_after_the_flags():
    result = CliRunner().invoke(
        cli, ["plan"], env={"GPUPACK_PLAN_JSON": "yes", "GPUPACK_PLAN_GPU_MEMORY": "80GiB"}
    )
    assert result.exit_code == 0, result.output
    assert result.output.lstrip().startswith("{")
