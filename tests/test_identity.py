from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import KeystoreError, SignatureError, ValidationError
from gridledger.identity import (
    CANCEL,
    ORDER,
    SECP256K1_N,
    ZERO_ADDRESS,
    Domain,
    Keystore,
    MessageType,
    Signer,
    address_bytes,
    checksum,
    keccak,
    recover_digest,
    region_id,
    region_name,
)

ALICE = Signer.from_hex("0x" + "11" * 32)
BOB = Signer.from_hex("0x" + "22" * 32)
DOMAIN = Domain(chain_id=1337)
MARKET_A = Domain.of_contract(1337, "0x" + "ab" * 20)
MARKET_B = Domain.of_contract(1337, "0x" + "cd" * 20)
DOMAINS = pytest.mark.parametrize("domain", [DOMAIN, MARKET_A], ids=["chain", "contract"])


def order(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "region": region_id("north"),
        "slot": 1_780_000_200,
        "side": 1,
        "energyWh": 1500,
        "priceMicroPerKwh": 210_000,
        "owner": ALICE.address,
        "nonce": 7,
        "target": ZERO_ADDRESS,
    }
    fields.update(changes)
    return fields


def eth_account_recover(
    domain: Domain, mtype: MessageType, message: dict[str, Any], sig: bytes
) -> str:
    """Recover with eth-account's own EIP-712 encoder: an implementation independent of ours."""
    signable = encode_typed_data(full_message=domain.typed_data(mtype, message))
    return str(Account.recover_message(signable, signature=sig))


def test_known_address() -> None:
    # private key 0x11..11 has this well-known address (checked with eth-account)
    assert ALICE.address == Account.from_key(b"\x11" * 32).address


@DOMAINS
def test_order_signature_verifies_with_eth_account(domain: Domain) -> None:
    msg = order()
    sig = domain.sign(ALICE, ORDER, msg)
    assert eth_account_recover(domain, ORDER, msg, sig) == ALICE.address
    domain.verify(ORDER, msg, sig, ALICE.address)


@DOMAINS
def test_digest_equals_eth_account_digest(domain: Domain) -> None:
    msg = order()
    signable = encode_typed_data(full_message=domain.typed_data(ORDER, msg))
    # EIP-191 version 0x01: header is the domain separator, body the struct hash
    assert signable.header == domain.separator
    assert signable.body == ORDER.hash_struct(msg)


@DOMAINS
def test_eth_account_signature_verifies_with_identity(domain: Domain) -> None:
    msg = order(side=0, target=BOB.address)
    signed = Account.sign_typed_data(ALICE.private_key, full_message=domain.typed_data(ORDER, msg))
    domain.verify(ORDER, msg, bytes(signed.signature), ALICE.address)


CHANGES: list[tuple[str, Any]] = [
    ("region", region_id("south")),
    ("slot", 1_780_001_100),
    ("side", 0),
    ("energyWh", 1501),
    ("priceMicroPerKwh", 210_001),
    ("owner", BOB.address),
    ("nonce", 8),
    ("target", BOB.address),
]


@pytest.mark.parametrize(("field", "value"), CHANGES, ids=[c[0] for c in CHANGES])
def test_any_changed_field_fails(field: str, value: Any) -> None:
    sig = DOMAIN.sign(ALICE, ORDER, order())
    tampered = order(**{field: value})
    with pytest.raises(SignatureError):
        DOMAIN.verify(ORDER, tampered, sig, ALICE.address)
    assert eth_account_recover(DOMAIN, ORDER, tampered, sig) != ALICE.address


def test_other_chain_or_domain_fails() -> None:
    sig = DOMAIN.sign(ALICE, ORDER, order())
    with pytest.raises(SignatureError):
        Domain(chain_id=1).verify(ORDER, order(), sig, ALICE.address)
    with pytest.raises(SignatureError):
        Domain(chain_id=1337, version="2").verify(ORDER, order(), sig, ALICE.address)
    with pytest.raises(SignatureError):
        MARKET_A.verify(ORDER, order(), sig, ALICE.address)


def test_other_market_contract_fails() -> None:
    # the replay EIP-712's verifyingContract prevents: same chain, same region, another market
    sig = MARKET_A.sign(ALICE, ORDER, order())
    MARKET_A.verify(ORDER, order(), sig, ALICE.address)
    for other in (MARKET_B, DOMAIN, Domain.of_contract(1, MARKET_A.verifying_contract or b"")):
        with pytest.raises(SignatureError):
            other.verify(ORDER, order(), sig, ALICE.address)
        assert eth_account_recover(other, ORDER, order(), sig) != ALICE.address


@pytest.mark.parametrize("bad", [b"\x01" * 19, b"\x01" * 32, "0x" + "ab" * 20])
def test_verifying_contract_must_be_20_bytes(bad: Any) -> None:
    with pytest.raises(ValidationError, match="20-byte contract address"):
        Domain(1337, verifying_contract=bad)


def test_cancel_round_trip() -> None:
    msg = {
        "region": region_id("north"),
        "slot": 1_780_000_200,
        "orderHash": ORDER.hash_struct(order()),
        "owner": ALICE.address,
        "nonce": 9,
    }
    sig = DOMAIN.sign(ALICE, CANCEL, msg)
    assert eth_account_recover(DOMAIN, CANCEL, msg, sig) == ALICE.address


def test_high_s_and_bad_v_refused() -> None:
    digest = DOMAIN.digest(ORDER, order())
    sig = ALICE.sign_digest(digest)
    s = int.from_bytes(sig[32:64])
    flipped_v = 27 if sig[64] == 28 else 28
    malleable = sig[:32] + (SECP256K1_N - s).to_bytes(32) + bytes([flipped_v])
    with pytest.raises(SignatureError, match="high s"):
        recover_digest(digest, malleable)
    with pytest.raises(SignatureError, match="v must be"):
        recover_digest(digest, sig[:64] + b"\x01")
    with pytest.raises(SignatureError, match="65 bytes"):
        recover_digest(digest, sig[:64])


@settings(max_examples=200)
@given(st.binary(min_size=65, max_size=65))
def test_random_signatures_never_crash(sig: bytes) -> None:
    try:
        signer = recover_digest(keccak(b"x"), sig)
    except SignatureError:
        return
    assert len(signer) == 20


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"side": 256}, "side"),
        ({"energyWh": -1}, "energyWh"),
        ({"owner": "0x1234"}, "owner"),
        ({"region": b"short"}, "region"),
        ({"nonce": True}, "nonce"),
    ],
)
def test_ill_typed_fields_refused(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ORDER.hash_struct(order(**changes))


def test_missing_and_unknown_fields_refused() -> None:
    msg = order()
    del msg["nonce"]
    with pytest.raises(ValidationError, match="lacks field 'nonce'"):
        ORDER.hash_struct(msg)
    with pytest.raises(ValidationError, match="unknown fields"):
        ORDER.hash_struct(order(extra=1))


def test_encode_type_is_eip712() -> None:
    assert ORDER.encode_type == (
        "Order(bytes32 region,uint64 slot,uint8 side,uint64 energyWh,uint64 priceMicroPerKwh,"
        "address owner,uint64 nonce,address target)"
    )


def test_region_ids() -> None:
    rid = region_id("north-1")
    assert len(rid) == 32 and region_name(rid) == "north-1"
    for bad in ["", "North", "a" * 33, "no space"]:
        with pytest.raises(ValidationError, match="region name"):
            region_id(bad)


def test_addresses() -> None:
    assert checksum(ALICE.address.lower()) == ALICE.address
    with pytest.raises(ValidationError):
        address_bytes("0xzz")


def test_keystore_round_trip(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keys", kdf_iterations=2)
    address = store.create("alice", "correct horse", signer=ALICE)
    assert address == ALICE.address
    assert store.address("alice") == ALICE.address
    assert store.load("alice", "correct horse") == ALICE
    assert store.names() == ["alice"]
    assert (tmp_path / "keys" / "alice.json").stat().st_mode & 0o777 == 0o600
    # the file is a standard v3 keystore: eth-account decrypts it as well
    blob = (tmp_path / "keys" / "alice.json").read_text()
    assert Account.decrypt(blob, "correct horse") == ALICE.private_key


def test_keystore_errors(tmp_path: Path) -> None:
    store = Keystore(tmp_path, kdf_iterations=2)
    store.create("bob", "pw")
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        store.load("bob", "nope")
    with pytest.raises(KeystoreError, match="exists already"):
        store.create("bob", "pw")
    with pytest.raises(KeystoreError, match="no key named"):
        store.address("carol")
    with pytest.raises(KeystoreError, match="not valid"):
        store.create("../evil", "pw")
    with pytest.raises(KeystoreError, match="empty passphrase"):
        store.create("dave", "")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(KeystoreError, match="corrupt"):
        store.address("broken")
    # a failed create never touched the existing key
    assert store.load("bob", "pw").address == store.address("bob")


def test_bad_private_keys() -> None:
    with pytest.raises(KeystoreError):
        Signer(b"\x00" * 32)
    with pytest.raises(KeystoreError):
        Signer.from_hex("0xnothex")
