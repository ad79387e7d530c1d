"""CLI fuzzing: generated arguments, settings files, environments and slot documents.

For every command of ``config``, ``keys``, ``market`` and ``ingest`` (and ``--help`` of every
command), Hypothesis generates the argument list, the settings file (TOML, mixed tables, unknown
keys, values of every type, raw bytes), the ``GRIDLEDGER_*`` environment and the slot document
``market clear`` reads (signed orders, mutated orders, random JSON, binary, deep nesting). Each run
must end with an exit code from the documented table other than 70 (internal error), print no
traceback, and, when it fails, leave the working directory (data dir, keystore, store) byte for
byte as it was.

Bounded in CI (100 examples per property); ``--soak`` (or ``GRIDLEDGER_SOAK=1``) runs 3,000.
No example can reach a network service: telemetry URLs are ``memory://`` or a closed local port.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridledger.cli import main
from gridledger.cli.exits import ALL_CODES, INTERNAL
from gridledger.config import SETTINGS
from gridledger.identity import Domain, Keystore, Signer
from gridledger.market import Order, Side

SOAK = os.environ.get("GRIDLEDGER_SOAK", "") not in ("", "0") or "--soak" in sys.argv
EXAMPLES = 3000 if SOAK else 100
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SLOT = 1_800_000_000
DOMAIN = Domain(1337)
SIGNERS = [Signer(bytes([i + 1]) * 32) for i in range(4)]
KEY = Signer(bytes([42]) * 32)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CLOSED_PORT = _closed_port()


def _order(signer: Signer, side: Side, nonce: int, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "region": "north",
        "slot_start_s": SLOT,
        "side": side,
        "energy_wh": 400 + nonce,
        "price_micro_per_kwh": 100_000 + 50_000 * int(side == Side.BID),
        "nonce": nonce,
    }
    fields.update(kw)
    return Order.create(signer, DOMAIN, **fields).to_dict()


# a pool of signed orders: each signer has both sides (so self-trading can be generated),
# repeated nonces (replays), an order for another slot and a company offer
POOL = [
    _order(signer, side, nonce)
    for signer in SIGNERS
    for side in (Side.BID, Side.ASK)
    for nonce in (1, 2)
] + [
    _order(SIGNERS[0], Side.ASK, 7, slot_start_s=SLOT + 60),
    _order(SIGNERS[1], Side.ASK, 8, target=SIGNERS[3].address),
]
OFFERS = [_order(SIGNERS[3], Side.BID, 9, slot_start_s=0), _order(SIGNERS[2], Side.BID, 3)]

# --- strategies ----------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=12)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_order(draw: st.DrawFn) -> Any:
    order = dict(draw(st.sampled_from(POOL + OFFERS)))
    if draw(st.booleans()):
        field = draw(st.sampled_from([*order, "extra"]))
        if draw(st.booleans()):
            order[field] = draw(json_values)
        else:
            order.pop(field, None)
    return order


@st.composite
def slot_documents(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["orders", "orders", "json", "binary", "deep"]))
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        n = draw(st.integers(1, 20_000))
        return b"[" * n + b"]" * n
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    doc: dict[str, Any] = {
        "region": draw(st.sampled_from(["north", "south", "", "North"])),
        "slot_start_s": draw(st.sampled_from([SLOT, SLOT + 60, 0, -1, 2**64, "x", None])),
        "orders": draw(st.lists(st.sampled_from(POOL) | mutated_order(), max_size=6)),
    }
    if draw(st.booleans()):
        doc["company_offers"] = draw(
            st.lists(st.sampled_from(OFFERS) | mutated_order(), max_size=2)
        )
    if draw(st.booleans()):
        doc.pop(draw(st.sampled_from(sorted(doc))))
    return json.dumps(doc).encode()


def _not_debug(text: str) -> bool:
    # --debug (or log_level DEBUG) asks for tracebacks on purpose: not generated here
    return text.strip().upper() != "DEBUG"


NAMES = [s.name for s in SETTINGS]
GOOD = {
    "data_dir": ["data", "missing/sub", "afile", ""],
    "store_url": ["", "sqlite:///data/s.sqlite", "sqlite://", "postgresql://u@127.0.0.1:1/db"],
    "ledger_url": ["embedded", "http://127.0.0.1:1", "http://", "ftp://x"],
    "telemetry_url": ["memory://", "memory://x", f"mqtt://127.0.0.1:{CLOSED_PORT}", "mqtt://"],
    "chain_id": ["1337", "0", "-5", str(2**64)],
    "region": ["north", "North", "", "a" * 40],
    "slot_minutes": ["15", "7", "60", "0"],
    "gate_closure_s": ["60", "-1", "100000"],
    "keystore_dir": ["", "data/keys", "afile"],
    "retail_price_micro_per_kwh": ["300000", "1", "-1", str(10**12)],
    "feed_in_price_micro_per_kwh": ["80000", "400000"],
    "grid_fee_micro_per_kwh": ["20000", "x"],
    "log_level": ["INFO", "WARNING", "ERROR", "warning", "LOUD"],
}
# valid UTF-8 text, or a non-UTF-8 byte as os.environ carries it (a surrogate escape)
env_text = (
    st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)
    | st.just("caf\udce9")
).filter(lambda t: _not_debug(t) and not t.startswith("mqtt://"))


def setting_value(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(GOOD[name]) | env_text


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str | None]:
    names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
    env: dict[str, str | None] = {f"GRIDLEDGER_{n.upper()}": draw(setting_value(n)) for n in names}
    if draw(st.booleans()):
        env["GRIDLEDGER_PASSPHRASE"] = None  # a prompt, at the end of its input
    if draw(st.integers(0, 4)) == 0:
        env["GRIDLEDGER_CONFIG"] = draw(
            st.sampled_from(["gridledger.toml", "none.toml", "data", "afile"]) | env_text
        )
    return env


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value).replace("inf", "inf").replace("nan", "nan")
    if value is None:
        return '""'
    return json.dumps(value)


@st.composite
def settings_files(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["none", "top", "table", "mixed", "bytes"]))
    if kind == "none":
        return None
    if kind == "bytes":
        return draw(st.binary(max_size=120))
    keys = draw(
        st.lists(st.sampled_from([*NAMES, "slot_minute", "nonsense"]), max_size=4, unique=True)
    )
    lines = []
    for key in keys:
        if key in GOOD and draw(st.booleans()):
            value: Any = draw(setting_value(key))
        else:
            value = draw(scalars)
        if isinstance(value, str) and not _not_debug(value):
            value = "INFO"
        lines.append(f"{key} = {_toml(value)}")
    if kind == "top":
        return "\n".join(lines).encode()
    if kind == "table":
        return ("[gridledger]\n" + "\n".join(lines)).encode()
    return ('region = "north"\n[gridledger]\n' + "\n".join(lines)).encode()


token = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
key_names = st.sampled_from(["alice", "bob", "new1", "../up", "", "a" * 80, "x.y"]) | token


@st.composite
def arguments(draw: st.DrawFn) -> list[str]:
    command = draw(
        st.sampled_from(
            [
                "config show",
                "keys new",
                "keys show",
                "keys list",
                "keys import",
                "market clear",
                "ingest",
            ]
        )
    )
    args = command.split()
    if command == "config show" and draw(st.booleans()):
        args.append("--json")
    if command in ("keys new", "keys show", "keys import"):
        args.append(draw(key_names))
    if command == "keys import":
        args += ["--private-key-file", draw(st.sampled_from(["key.txt", "-", "none", "doc.json"]))]
    if command == "market clear":
        args += ["--file", draw(st.sampled_from(["doc.json", "doc.json", "none.json", "."]))]
        if draw(st.booleans()):
            args += ["--rule", draw(st.sampled_from(["pay_as_bid", "pay_as_clear"]) | token)]
        if draw(st.booleans()):
            args += ["--market", draw(st.sampled_from(["0x" + "7c" * 20, "0x12"]) | token)]
        if draw(st.booleans()):
            args += ["--expect-hash", draw(st.sampled_from(["0x" + "00" * 32, "0xzz"]) | token)]
        if draw(st.booleans()):
            args.append("--trades")
    if command == "ingest":
        if draw(st.booleans()):
            args += ["--client-id", draw(st.sampled_from(["ok-id", "x" * 65, "a b"]) | token)]
        if draw(st.booleans()):
            args += ["--region", draw(st.sampled_from(["north", "Bad"]) | token)]
        if draw(st.booleans()):
            args += ["--batch-size", draw(st.sampled_from(["0", "500", "x"]) | token)]
    args += draw(st.lists(token.filter(lambda t: "debug" not in t.lower()), max_size=1))
    if draw(st.booleans()):
        args = ["--config", "gridledger.toml", *args]
    return args


# --- the properties ------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with a data dir that has a key and a store, and a file 'afile'."""
    from gridledger.store import open_store

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("GRIDLEDGER_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr("gridledger.cli.group.KDF_ITERATIONS", 2)
    Keystore(tmp_path / "data" / "keys", kdf_iterations=2).create("alice", "pw", SIGNERS[0])
    with open_store(f"sqlite:///{tmp_path / 'data' / 'gridledger.sqlite'}"):
        pass
    (tmp_path / "afile").write_text("not a directory")
    (tmp_path / "key.txt").write_text(KEY.private_key.hex())
    yield tmp_path


def _check(result: Any, before: dict[str, str], root: Path, what: object) -> None:
    assert "Traceback" not in result.output, (what, result.output)
    assert result.exit_code in ALL_CODES and result.exit_code != INTERNAL, (what, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        what,
        repr(result.exception),
    )
    if result.exit_code != 0:
        assert _snapshot(root) == before, (what, result.output)


@FUZZ
@given(
    args=arguments(),
    config=settings_files(),
    env=environments(),
    document=slot_documents(),
    stdin=st.sampled_from([KEY.private_key.hex(), ""]) | st.text(max_size=80),
)
def test_commands_end_with_a_documented_exit_code_and_change_nothing_when_failing(
    workdir: Path,
    args: list[str],
    config: bytes | None,
    env: dict[str, str | None],
    document: bytes,
    stdin: str,
) -> None:
    toml = workdir / "gridledger.toml"
    if config is None:
        toml.unlink(missing_ok=True)
    else:
        toml.write_bytes(config)
    (workdir / "doc.json").write_bytes(document)
    env = {"GRIDLEDGER_DATA_DIR": "data", "GRIDLEDGER_PASSPHRASE": "pw", **env}
    before = _snapshot(workdir)
    result = CliRunner().invoke(main, args, env=env, input=stdin)
    _check(result, before, workdir, (args, config, env, document[:200]))


@FUZZ
@given(document=slot_documents(), rule=st.sampled_from(["pay_as_clear", "pay_as_bid"]))
def test_market_clear_on_generated_documents(workdir: Path, document: bytes, rule: str) -> None:
    (workdir / "doc.json").write_bytes(document)
    before = _snapshot(workdir)
    result = CliRunner().invoke(
        main,
        ["market", "clear", "--file", "doc.json", "--rule", rule],
        env={"GRIDLEDGER_DATA_DIR": "data"},
    )
    _check(result, before, workdir, document[:300])
    if result.exit_code == 0:
        cleared = json.loads(result.stdout)
        assert cleared["hash"].startswith("0x") and len(cleared["hash"]) == 66
    else:
        assert result.exit_code in (2, 4), result.output


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_command_paths(main)], ids=lambda p: " ".join(p) or "main")
def test_help_of_every_command(path: tuple[str, ...], workdir: Path) -> None:
    before = _snapshot(workdir)
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "Traceback" not in result.output
    assert _snapshot(workdir) == before  # --help never creates or opens anything


# --- the commands on a settled data dir: verify, repair, deliver, simulate -----------------------

CHAIN_EXAMPLES = 600 if SOAK else 30


@pytest.fixture(scope="module")
def settled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny settled city (1 household per region, 1 hour) with an operator key, built once."""
    root = tmp_path_factory.mktemp("settled")
    env = {"GRIDLEDGER_DATA_DIR": str(root / "data"), "GRIDLEDGER_PASSPHRASE": "pw"}
    args = ["simulate", "--settle", "--households", "1", "--hours", "1"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    from gridledger.operator.region import demo_keys

    Keystore(root / "data" / "keys", kdf_iterations=2).create("op", "pw", demo_keys()[1])
    return root / "data"


@st.composite
def chain_arguments(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(["verify", "repair", "deliver", "simulate"]))
    args = [command]
    if command == "verify" and draw(st.booleans()):
        args.append("--chain")
    if command == "repair":
        if draw(st.booleans()):
            args += ["--key", draw(st.sampled_from(["op", "nobody"]) | token)]
        if draw(st.booleans()):
            args += ["--region", draw(st.sampled_from(["north", "east"]) | token)]
    if command == "deliver":
        if draw(st.booleans()):
            args += ["--region", draw(st.sampled_from(["north", "east", ""]) | token)]
        if draw(st.booleans()):
            slot = st.sampled_from(
                ["1782000000", "1782000060", "2026-06-21T00:00:00", "2026-06-21T00:00:00+00:00",
                 "-5", "99999999999999", "x"]
            )  # fmt: skip
            args += ["--slot", draw(slot | token)]
        if draw(st.booleans()):
            args += ["--key", draw(st.sampled_from(["op", "nobody"]) | token)]
    if command == "simulate":
        # spans that the command must refuse fast, and the data dir's own (an idempotent re-run)
        args += ["--households", draw(st.sampled_from(["1", "0", "-1", "x", "2000000", "2"]))]
        args += ["--hours", draw(st.sampled_from(["1", "0", "-3", "99999999"]))]
        if draw(st.booleans()):
            args += ["--start", draw(st.sampled_from(
                ["2026-06-21T00:00:00", "0001-01-01T00:00:00+00:00", "9999-12-31T23:00:00+00:00",
                 "tomorrow", "2026-06-21T00:00:00+00:00"]))]  # fmt: skip
        if draw(st.booleans()):
            args.append("--settle")
    return args


@settings(
    max_examples=CHAIN_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=chain_arguments(), env=environments())
def test_chain_commands_end_with_a_documented_exit_code(
    settled_dir: Path, tmp_path: Path, args: list[str], env: dict[str, str | None]
) -> None:
    import shutil
    import uuid

    root = tmp_path / uuid.uuid4().hex
    shutil.copytree(settled_dir, root / "data")
    before = _snapshot(root)
    env = {
        **env,
        "GRIDLEDGER_DATA_DIR": str(root / "data"),
        "GRIDLEDGER_PASSPHRASE": "pw",
        "GRIDLEDGER_LEDGER_URL": None,
        "GRIDLEDGER_STORE_URL": None,
        "GRIDLEDGER_CHAIN_ID": None,
    }
    result = CliRunner().invoke(main, args, env=env)
    _check(result, before, root, (args, env))
    shutil.rmtree(root)
