"""Bad scenario files: each gives one line naming the file, the line, the field and the value."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.loader import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<rest>.+)$")


def expected(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0].split("# expect: ", 1)[1].strip()


def test_there_are_at_least_20_broken_files():
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_file_gives_one_line(path: Path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    m = LINE.match(msg)
    assert m, msg
    assert m["file"] == str(path)
    assert 1 <= int(m["line"]) <= len(path.read_text().splitlines()) + 1
    assert expected(path) in msg


def test_the_line_points_at_the_field():
    text = "name: x\nvendors:\n  openai:\n    orgs:\n      - name: a\nfaults:\n  - kind: outage\n    target: nobody\n"
    with pytest.raises(ScenarioError, match=r"^f.yaml:8: faults.0.target: unknown org 'nobody'"):
        parse_scenario(text, "f.yaml")
    with pytest.raises(ScenarioError, match=r"^f.yaml:7: faults.0.kind: unknown fault kind \(got 'oops'"):
        parse_scenario(text.replace("kind: outage", "kind: oops"), "f.yaml")


def test_unreadable_and_binary_files(tmp_path: Path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ScenarioError, match="not a UTF-8 text file"):
        load_scenario(bad)


def test_alias_bombs_are_refused():
    lines = ["k0: &k0 [x, x]"] + [f"k{i + 1}: &k{i + 1} [*k{i}, *k{i}, *k{i}]" for i in range(80)]
    with pytest.raises(ScenarioError, match="too many YAML aliases"):
        parse_scenario("\n".join(lines) + "\nname: x\n", "bomb.yaml")


def test_validate_command_exits_2_with_one_line_per_bad_file():
    files = [str(p) for p in BROKEN[:3]] + [str(ROOT / "scenarios" / "flapping-org.yaml")]
    proc = subprocess.run([sys.executable, "-m", "sim", *files], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 3 and all(LINE.match(e) for e in err)
    assert "flapping-org.yaml: ok" in proc.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{tmp}/a-file"], "breakerlab: --out: {tmp}/a-file exists and is not a directory"),
        (["--out", "{tmp}/a-file/sub"], "breakerlab: --out: cannot create {tmp}/a-file/sub: Not a directory"),
        (["--seed", "-1"], "breakerlab: --seed: must be >= 0 (got -1)"),
    ],
)
def test_bad_command_line_is_one_line_and_exit_2_before_simulating(tmp_path: Path, extra: list[str],
                                                                  message: str) -> None:
    (tmp_path / "a-file").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from breakerlab.cli import main; sys.exit(main(sys.argv[1:]))",
         "run", str(ROOT / "scenarios" / "quiet-night.yaml"), "--policy", "exponential", "-q", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == message.replace("{tmp}", str(tmp_path))
    assert proc.stdout == ""  # nothing simulated, nothing printed
