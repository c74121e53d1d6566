"""``breakerlab search``: exit codes, output, the written file (through add_search_parser)."""

from __future__ import annotations

import json

import pytest

from breakerlab.command import Parser as _Parser
from breakerlab.search import add_search_parser, main


def test_parser_hook_adds_the_command():
    parser = _Parser(prog="breakerlab")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = add_search_parser(sub)
    args = parser.parse_args(["search", "x.yaml", "--policy", "seed", "--kinds", "brownout,lockout",
                              "--budget", "7", "--out", "ce.yaml", "--json"])
    assert (args.command, args.policy, args.kinds, args.budget, args.out, args.json) == (
        "search", "seed", "brownout,lockout", 7, "ce.yaml", True)
    help_text = p.format_help()
    assert "examples:" in help_text and "breakerlab run" in help_text and "exit codes" in help_text


def test_wired_into_the_main_cli_when_the_lead_has_done_so():
    from breakerlab.cli import build_parser

    actions = [a for a in build_parser()._actions if getattr(a, "choices", None)]
    if not any("search" in a.choices for a in actions):
        pytest.skip("breakerlab.cli.build_parser does not add `search` yet")


def test_counterexample_exits_1_and_writes_a_rerunnable_file(small_yaml, tmp_path, capsys):
    out = tmp_path / "ce.yaml"
    code = main([str(small_yaml), "--policy", "consecutive", "--param", "threshold=50", "--kinds", "brownout",
                 "--budget", "30", "--shrink-budget", "5", "--out", str(out), "--json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["found"] and data["reproduced"] and data["written"] == str(out)
    assert data["reproduce"] == f"breakerlab run {out} --policy consecutive"
    assert data["failed_checks"] and data["faults"][0]["kind"] == "brownout"
    from sim.loader import load_scenario

    assert load_scenario(out).policies[0].params == {"threshold": 50}


def test_no_counterexample_exits_0(small_yaml, tmp_path, capsys):
    code = main([str(small_yaml), "--policy", "seed", "--kinds", "brownout", "--max-faults", "1", "--budget", "5",
                 "--out", str(tmp_path / "none.yaml")])
    assert code == 0
    text = capsys.readouterr().out
    assert "no counterexample in 5 simulations" in text and "closest:" in text
    assert not (tmp_path / "none.yaml").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--policy", "seed", "--kinds", "meteor"], "unknown fault kind 'meteor'"),
        (["--policy", "bogus"], "breaker policy 'bogus' is unknown"),
        (["--policy", "seed", "--budget", "0"], "--budget: must be at least 1"),
        (["--policy", "seed", "--param", "oops"], "--param: expected KEY=VALUE"),
        (["--policy", "seed", "--volume", "lots"], "--volume"),
        (["--policy", "seed", "--scale", "0"], "--scale: must be > 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(small_yaml, capsys, argv, message):
    assert main([str(small_yaml), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_and_usage_errors_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope.yaml"), "--policy", "seed"]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "nope.yaml")])  # --policy is required
    assert e.value.code == 2
