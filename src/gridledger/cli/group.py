"""The ``gridledger`` command group, its shared options and the error mapping of every command.

Every command runs inside :meth:`_Group.invoke`, which turns errors into one line on stderr and a
documented exit code (:mod:`gridledger.cli.exits`): never a traceback, unless ``--debug`` or
``GRIDLEDGER_LOG_LEVEL=DEBUG`` asks for one. Ctrl-C ends a command with exit code 130 and says
what was completed (:mod:`gridledger.cli.progress`) and that a re-run resumes.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from typing import Any

import click

from gridledger.cli import exits, progress
from gridledger.cli.logs import configure_logging
from gridledger.config import Config, load_config

PASSPHRASE_ENV = "GRIDLEDGER_PASSPHRASE"
LOG_LEVEL_ENV = "GRIDLEDGER_LOG_LEVEL"
#: pbkdf2 iterations for new keys; None = the standard scrypt parameters (tests lower it).
KDF_ITERATIONS: int | None = None

_DEBUG = "gridledger.debug"
_FORCED_DEBUG = "gridledger.debug_flag"
_CONFIG_PATH = "gridledger.config_path"
log = logging.getLogger("gridledger.cli")


def _env_debug() -> bool:
    return os.environ.get(LOG_LEVEL_ENV, "").strip().upper() == "DEBUG"


class _Group(click.Group):
    """Maps every error of every command to one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        progress.reset()
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise  # usage errors (exit 2) and explicit exits keep click's handling
        except click.exceptions.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                self._interrupted(ctx)
            self._fail(
                ctx,
                exc,
                exits.USAGE,
                "input ended at a prompt; give the value in its environment variable or option "
                f"(the passphrase in ${PASSPHRASE_ENV})",
            )
        except KeyboardInterrupt:
            self._interrupted(ctx)
        except RecursionError as exc:
            # a RecursionError's traceback is thousands of lines: never show it, even in debug
            self._fail(ctx, exc, exits.INTERNAL, "internal error: recursion too deep", trace=False)
        except Exception as exc:  # the one place where every error becomes an exit code
            code = exits.exit_code_for(exc)
            message = exits.one_line(exc)
            if code == exits.INTERNAL:
                message = (
                    f"internal error: {message}; re-run with --debug for the traceback and "
                    "report it"
                )
            self._fail(ctx, exc, code, message)

    @staticmethod
    def _fail(
        ctx: click.Context, exc: BaseException, code: int, message: str, trace: bool = True
    ) -> None:
        if trace and ctx.meta.get(_DEBUG, _env_debug()):
            click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
        log.debug("command failed", extra={"exit_code": code, "error": type(exc).__name__})
        click.echo(f"Error: {message}", err=True)
        raise click.exceptions.Exit(code)

    @staticmethod
    def _interrupted(ctx: click.Context) -> None:
        done = progress.completed_summary()
        what = f"completed {done}" if done else "nothing was reported as completed"
        click.echo(
            f"\nInterrupted: {what}; everything committed stays committed, and re-running the same "
            "command resumes from there",
            err=True,
        )
        raise click.exceptions.Exit(exits.INTERRUPTED)


@click.group(cls=_Group)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML settings file (default: ./gridledger.toml or $GRIDLEDGER_CONFIG).",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Log at DEBUG and show the traceback of an error (also GRIDLEDGER_LOG_LEVEL=DEBUG).",
)
@click.version_option(package_name="gridledger")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, debug: bool) -> None:
    """gridledger: regional peer-to-peer energy markets settled on an EVM ledger.

    Errors end with one line on stderr and an exit code per error class (see docs/cli.md).
    """
    ctx.meta[_DEBUG] = debug or _env_debug()
    ctx.meta[_FORCED_DEBUG] = debug
    ctx.meta[_CONFIG_PATH] = config_path
    # log from the start, at the environment's level until the settings are read
    configure_logging("DEBUG" if ctx.meta[_DEBUG] else "INFO")


def settings_of(ctx: click.Context) -> Config:
    """The effective settings, read and checked on first use (so ``--help`` never needs them)."""
    root = ctx.find_root()
    if root.obj is None:
        cfg = load_config(root.meta.get(_CONFIG_PATH))
        root.meta[_DEBUG] = root.meta.get(_DEBUG, False) or cfg["log_level"] == "DEBUG"
        configure_logging("DEBUG" if root.meta.get(_FORCED_DEBUG) else str(cfg["log_level"]))
        root.obj = cfg
        log.debug(
            "command starts",
            extra={"command": root.invoked_subcommand, "data_dir": str(cfg.data_path)},
        )
    assert isinstance(root.obj, Config)
    return root.obj


def passphrase(confirm: bool) -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
