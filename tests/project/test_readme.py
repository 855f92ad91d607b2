"""The README's two commands are what a new user runs first: keep CI on the same one."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```(?:bash|sh)\n(python3 -m venv[^\n]*)\n```", text)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = _commands()
    assert len(commands) >= 2, "README.md must show the demo command and the test command"
    demo, test = commands[0], commands[1]
    assert "examples/demo.py" in demo and "pytest" in test
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert test in ci.splitlines(), ".ci/run must run exactly the README's test command"
