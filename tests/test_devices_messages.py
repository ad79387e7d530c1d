from __future__ import annotations

import contextlib
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.devices import (
    COMMAND,
    COMMAND_SIZE,
    READING,
    READING_SIZE,
    Action,
    Command,
    DeviceKind,
    Reading,
    command_digest,
    decode_command,
    decode_reading,
    reading_digest,
)
from gridledger.errors import CommandError, ReadingError
from gridledger.identity import Domain, FastRecoverer, Signer, recover_digest

DEVICE = Signer.from_hex("0x" + "33" * 32)
OWNER = Signer.from_hex("0x" + "44" * 32)
DOMAIN = Domain(1337)

readings = st.builds(
    Reading,
    region=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True),
    device=st.binary(min_size=20, max_size=20),
    sequence=st.integers(0, 2**64 - 1),
    timestamp_ms=st.integers(0, 2**64 - 1),
    kind=st.sampled_from(DeviceKind),
    import_wh=st.integers(0, 2**64 - 1),
    export_wh=st.integers(0, 2**64 - 1),
    power_w=st.integers(-(2**63), 2**63 - 1),
    soc_permille=st.integers(0, 2**16 - 1),
    soh_permille=st.integers(0, 2**16 - 1),
    state=st.integers(0, 2**16 - 1),
    alarms=st.integers(0, 2**32 - 1),
)


def sample(**changes: Any) -> Reading:
    fields: dict[str, Any] = {
        "region": "north",
        "device": DEVICE.address_bytes,
        "sequence": 7,
        "timestamp_ms": 1_780_000_000_000,
        "kind": DeviceKind.ACCUMULATOR,
        "import_wh": 1200,
        "export_wh": 800,
        "power_w": -2500,
        "soc_permille": 640,
        "soh_permille": 990,
        "state": 4,
        "alarms": 0,
    }
    fields.update(changes)
    return Reading(**fields)


@settings(max_examples=200, deadline=None)
@given(readings, st.integers(1, 2**64))
def test_lean_digest_equals_generic_eip712(reading: Reading, chain_id: int) -> None:
    domain = Domain(chain_id)
    assert reading_digest(domain, reading.body()) == domain.digest(READING, reading.message())


@settings(max_examples=100, deadline=None)
@given(readings)
def test_encode_decode_round_trip(reading: Reading) -> None:
    payload = reading.sign(DEVICE, DOMAIN)
    assert len(payload) == READING_SIZE
    decoded, signature = decode_reading(payload)
    assert decoded == reading
    assert recover_digest(reading_digest(DOMAIN, payload[:-65]), signature) == DEVICE.address_bytes


def test_reading_signature_matches_eth_account_typed_data() -> None:
    """A wallet (eth_signTypedData_v4) makes the same signature: wallets can check readings."""
    reading = sample()
    typed = DOMAIN.typed_data(READING, reading.message())
    signed = Account.sign_message(encode_typed_data(full_message=typed), DEVICE.private_key)
    payload = reading.sign(DEVICE, DOMAIN)
    assert bytes(signed.signature) == payload[-65:]


def test_chain_id_is_bound_into_the_signature() -> None:
    payload = sample().sign(DEVICE, DOMAIN)
    other = reading_digest(Domain(1), payload[:-65])
    assert recover_digest(other, payload[-65:]) != DEVICE.address_bytes


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "169 bytes"),
        (b"\x52" * 168, "169 bytes"),
        (b"\x00" + bytes(168), "format tag"),
        (sample().sign(DEVICE, DOMAIN)[:1] + b"NORTH".ljust(32, b"\0") + bytes(136), "region"),
    ],
)
def test_decode_refuses_malformed(payload: bytes, match: str) -> None:
    with pytest.raises(ReadingError, match=match):
        decode_reading(payload)


def test_decode_refuses_unknown_kind() -> None:
    payload = bytearray(sample().sign(DEVICE, DOMAIN))
    payload[1 + 32 + 20 + 16] = 99
    with pytest.raises(ReadingError, match="malformed"):
        decode_reading(bytes(payload))


def test_body_refuses_out_of_range_values() -> None:
    with pytest.raises(ReadingError, match="out of range"):
        sample(import_wh=-1).body()
    with pytest.raises(ReadingError):
        sample(region="Not A Region").body()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_decoder_raises_only_reading_error(data: bytes) -> None:
    with contextlib.suppress(ReadingError):
        decode_reading(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=READING_SIZE, max_size=READING_SIZE))
def test_fuzz_decoder_full_size_payloads(data: bytes) -> None:
    data = b"\x52" + data[1:]
    try:
        reading, signature = decode_reading(data)
    except ReadingError:
        return
    assert len(signature) == 65
    assert reading.body() == data[:-65]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=250))
def test_fuzz_command_decoder_raises_only_command_error(data: bytes) -> None:
    with contextlib.suppress(CommandError):
        decode_command(data)


def test_command_digest_equals_generic_eip712() -> None:
    command = Command("north", DEVICE.address_bytes, OWNER.address_bytes, 3, Action.SET_MODE, -5, 9)
    assert command_digest(DOMAIN, command.body()) == DOMAIN.digest(COMMAND, command.message())
    payload = command.sign(OWNER, DOMAIN)
    assert len(payload) == COMMAND_SIZE
    assert decode_command(payload) == (command, payload[-65:])


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=65, max_size=65))
def test_fast_recoverer_agrees_with_recover_digest_on_junk(digest: bytes, sig: bytes) -> None:
    fast = FastRecoverer().address(digest, sig)
    try:
        slow: bytes | None = recover_digest(digest, sig)
    except ValueError:
        slow = None
    assert fast == slow


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_fast_recoverer_recovers_real_signatures(digest: bytes) -> None:
    sig = DEVICE.sign_digest(digest)
    assert (
        FastRecoverer().address(digest, sig) == DEVICE.address_bytes == recover_digest(digest, sig)
    )
    high_s = (
        sig[:32]
        + (
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
            - int.from_bytes(sig[32:64])
        ).to_bytes(32)
        + bytes([55 - sig[64]])
    )
    assert FastRecoverer().address(digest, high_s) is None
