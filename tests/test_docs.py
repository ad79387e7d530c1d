"""Documentation is tested: every command and every setting must be documented (STYLE.md #10)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from gridledger.cli import main
from gridledger.config import SETTINGS, Setting

DOCS = Path(__file__).resolve().parent.parent / "docs"


def command_paths(
    group: click.Group, prefix: str = "gridledger"
) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from command_paths(command, path)
        else:
            yield path, command


ALL_COMMANDS = sorted(command_paths(main), key=lambda item: item[0])


def test_there_are_commands() -> None:
    names = [path for path, _ in ALL_COMMANDS]
    assert "gridledger simulate" in names
    assert "gridledger keys new" in names


@pytest.mark.parametrize(("path", "command"), ALL_COMMANDS, ids=[p for p, _ in ALL_COMMANDS])
def test_every_command_has_help_and_docs(path: str, command: click.Command) -> None:
    assert command.help and command.help.strip(), f"{path} has no help text"
    text = (DOCS / "cli.md").read_text()
    assert f"### {path}\n" in text, f"{path} is not documented in docs/cli.md (add '### {path}')"


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.name for s in SETTINGS])
def test_every_setting_is_documented(setting: Setting) -> None:
    text = (DOCS / "settings.md").read_text()
    name, env = setting.name, setting.env
    assert f"`{name}`" in text, f"setting {name} is missing from docs/settings.md"
    assert f"`{env}`" in text, f"environment variable {env} is missing from docs/settings.md"


def test_readme_quick_start_has_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [
        line for line in block.splitlines()[1:] if line.strip() and not line.startswith("#")
    ]
    assert commands == ["make run", "make test"]
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "make test" in ci
