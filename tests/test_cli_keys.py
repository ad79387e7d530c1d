"""``gridledger keys import`` and keystore files that are not what they should be."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridledger.cli import main
from gridledger.identity import Keystore, Signer

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
KEY = Signer(bytes([9]) * 32)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRIDLEDGER_CONFIG", raising=False)
    monkeypatch.delenv("GRIDLEDGER_LOG_LEVEL", raising=False)
    monkeypatch.setenv("GRIDLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRIDLEDGER_PASSPHRASE", "test passphrase")
    monkeypatch.setattr("gridledger.cli.group.KDF_ITERATIONS", 2)
    return CliRunner()


def test_import_from_a_file_and_from_stdin(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "k.key").write_text("0x" + KEY.private_key.hex() + "\n")
    result = runner.invoke(main, ["keys", "import", "op", "--private-key-file", "k.key"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["op", KEY.address]
    assert KEY.private_key.hex() not in result.output
    stored = Keystore(tmp_path / "data" / "keys").load("op", "test passphrase")
    assert stored.private_key == KEY.private_key

    piped = runner.invoke(
        main, ["keys", "import", "op2", "--private-key-file", "-"], input=KEY.private_key.hex()
    )
    assert piped.exit_code == 0, piped.output
    assert piped.stdout.split() == ["op2", KEY.address]
    again = runner.invoke(main, ["keys", "import", "op", "--private-key-file", "k.key"])
    assert again.exit_code == 5 and "exists already" in again.output


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\xff\xfe" + b"00" * 32, "is not text"),
        (b"12345", "expected 64 hex digits.*found 5 characters"),
        (b"zz" * 32, "64 hex digits"),
        (b"00" * 32, "between 1 and the curve order"),
        (b"0" * 5000, "larger than 4096 bytes"),
    ],
)
def test_import_refuses_what_is_not_a_key(
    runner: CliRunner, tmp_path: Path, content: bytes, match: str
) -> None:
    (tmp_path / "k.key").write_bytes(content)
    result = runner.invoke(main, ["keys", "import", "op", "--private-key-file", "k.key"])
    assert result.exit_code == 5, result.output
    assert re.search(match, result.output) and "Traceback" not in result.output
    assert not (tmp_path / "data" / "keys" / "op.json").exists()


def test_import_of_a_missing_file(runner: CliRunner) -> None:
    result = runner.invoke(main, ["keys", "import", "op", "--private-key-file", "none.key"])
    assert result.exit_code == 5 and "cannot read the private key from none.key" in result.output


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'{"address": "\xff"}', "not UTF-8 text"),
        (b"[" * 5000, "not JSON"),
        (b"not json", "not JSON"),
        (b'{"address": 5, "crypto": {}}', "not a v3 key file"),
        (b'{"address": "0xnothex", "crypto": {}}', "not an address"),
    ],
)
def test_corrupt_keystore_files(
    runner: CliRunner, tmp_path: Path, content: bytes, match: str
) -> None:
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (keys / "bad.json").write_bytes(content)
    for args in (["keys", "show", "bad"], ["keys", "list"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 5, result.output
        assert match in result.output and "Traceback" not in result.output


def test_a_key_file_with_a_broken_crypto_section(tmp_path: Path) -> None:
    from gridledger.errors import KeystoreError

    store = Keystore(tmp_path, kdf_iterations=2)
    store.create("k", "pw", KEY)
    path = tmp_path / "k.json"
    path.write_text(path.read_text().replace('"kdf"', '"kdx"'))
    with pytest.raises(KeystoreError, match="not a valid v3 key file"):
        store.load("k", "pw")


def test_the_docs_example_imports_the_operator_key(runner: CliRunner, tmp_path: Path) -> None:
    """The `keys import` lines of docs/cli.md run as written (deliver is the ledger's test)."""
    from gridledger.operator.region import demo_keys

    text = DOCS.read_text().split("### gridledger keys import", 1)[1].split("```", 2)[1]
    lines = [line for line in text.splitlines() if line.startswith(("python ", "gridledger keys"))]
    python_line, import_line = lines
    code = shlex.split(python_line)[2]  # python -c CODE > operator.key
    exec_globals: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, exec_globals)
    (tmp_path / "operator.key").write_text(out.getvalue())
    result = runner.invoke(main, shlex.split(import_line)[1:])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["operator", demo_keys()[1].address]


def test_the_docs_example_delivers_with_an_imported_key(tmp_path: Path) -> None:
    """The whole example of docs/cli.md runs in a shell as written, deliver and verify included."""
    import os
    import subprocess
    import sys

    block = DOCS.read_text().split("### gridledger keys import", 1)[1].split("```", 2)[1]
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "GRIDLEDGER_DATA_DIR": str(tmp_path / "var"),
    }
    env.pop("GRIDLEDGER_CONFIG", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered region north slot 1782036000" in result.stdout
    assert "(1 delivered," in result.stdout and "verified" in result.stdout
    assert not (tmp_path / "operator.key").exists()
