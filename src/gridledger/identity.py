"""Keys, addresses, keystores and EIP-712 typed-data signatures.

Accounts are secp256k1 keys, exactly as on Ethereum: an address is the last 20 bytes of the
Keccak-256 of the uncompressed public key. Every signed message of the project is EIP-712 typed
data under the domain ``(name="gridledger", version="1", chainId)``, so any Ethereum wallet can sign
it and a contract can check it with ``ecrecover``. Message types are declared as data
(:class:`MessageType`); the shared ones (:data:`ORDER`, :data:`CANCEL`) live here because the
market, the ledger contracts and the wallets must agree on them byte for byte.

Signatures are 65 bytes ``r || s || v`` with ``v`` in {27, 28} and low ``s`` (EIP-2); anything else
is refused. Hashing and recovery use coincurve (libsecp256k1) and the fastest Keccak available.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import coincurve
from eth_utils.address import to_checksum_address

from gridledger.errors import KeystoreError, SignatureError, ValidationError

try:  # safe-pysha3 is about 3x faster than pycryptodome for short inputs
    import sha3 as _sha3

    def keccak(data: bytes) -> bytes:
        """Keccak-256 digest (32 bytes) of ``data``."""
        return _sha3.keccak_256(data).digest()  # type: ignore[no-any-return]

except ImportError:  # pragma: no cover - depends on the installed extras
    from eth_hash.auto import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        """Keccak-256 digest (32 bytes) of ``data``."""
        return _eth_keccak(data)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
ZERO_ADDRESS = "0x" + "00" * 20
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Largest keystore file read [bytes]; a v3 key file is about 500 bytes.
MAX_KEY_FILE_BYTES = 64 * 1024


# --- addresses -----------------------------------------------------------------------------------


def address_bytes(address: str | bytes, title: str = "address") -> bytes:
    """The 20 raw bytes of an address given as ``0x``-hex text or bytes."""
    if isinstance(address, bytes):
        if len(address) != 20:
            raise ValidationError(f"{title} must be 20 bytes, got {len(address)}")
        return address
    if not isinstance(address, str) or not _ADDRESS_RE.match(address):
        raise ValidationError(f"{title} must be 0x followed by 40 hex digits, got {address!r}")
    return bytes.fromhex(address[2:])


def checksum(address: str | bytes) -> str:
    """EIP-55 checksummed text form of an address."""
    return _checksum_of(address_bytes(address))


@functools.lru_cache(maxsize=1 << 16)
def _checksum_of(raw: bytes) -> str:
    # a Keccak hash and a hex walk per call: the API asks for the same few addresses on every
    # request (the caller, its sites' owners), so they are remembered
    return str(to_checksum_address(raw))


def same_address(a: str | bytes, b: str | bytes) -> bool:
    """True when ``a`` and ``b`` name the same account (case and form ignored)."""
    return address_bytes(a) == address_bytes(b)


def public_key_to_address(public_key: coincurve.PublicKey) -> str:
    return checksum(keccak(public_key.format(compressed=False)[1:])[-20:])


def region_id(region: str) -> bytes:
    """The 32-byte on-chain identifier of a region name: its UTF-8 bytes, right-padded with zeros.

    Region names are 1 to 32 characters of lower-case letters, digits, ``-`` and ``_``.
    """
    if not isinstance(region, str) or not _REGION_RE.match(region):
        raise ValidationError(
            f"region name {region!r} is not valid; use 1-32 characters of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return region.encode().ljust(32, b"\0")


def region_name(rid: bytes) -> str:
    """Inverse of :func:`region_id`."""
    return rid.rstrip(b"\0").decode()


# --- keys and raw signatures ---------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A secp256k1 private key and its address. Keep instances out of logs."""

    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.private_key) != 32 or not 0 < int.from_bytes(self.private_key) < SECP256K1_N:
            raise KeystoreError("a private key is 32 bytes, between 1 and the curve order")

    @classmethod
    def generate(cls) -> Signer:
        """A new random key from the operating system's CSPRNG."""
        while True:
            candidate = secrets.token_bytes(32)
            if 0 < int.from_bytes(candidate) < SECP256K1_N:
                return cls(candidate)

    @classmethod
    def from_hex(cls, private_key_hex: str) -> Signer:
        text = private_key_hex.removeprefix("0x")
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise KeystoreError(
                "a private key in hex is 64 hex digits, optionally after 0x"
            ) from exc

    @cached_property
    def _key(self) -> coincurve.PrivateKey:
        return coincurve.PrivateKey(self.private_key)

    @cached_property
    def address(self) -> str:
        """Checksummed address of this key."""
        return public_key_to_address(self._key.public_key)

    @cached_property
    def address_bytes(self) -> bytes:
        return address_bytes(self.address)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest; 65 bytes ``r || s || v`` with ``v`` in {27, 28}, low ``s``."""
        if len(digest) != 32:
            raise SignatureError(f"a digest to sign is 32 bytes, got {len(digest)}")
        raw = self._key.sign_recoverable(digest, hasher=None)
        return raw[:64] + bytes([raw[64] + 27])


def recover_digest(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest``; raise :class:`SignatureError` if malformed."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != 65:
        raise SignatureError("a signature is 65 bytes r || s || v")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}")
    r = int.from_bytes(signature[:32])
    s = int.from_bytes(signature[32:64])
    if not (0 < r < SECP256K1_N and 0 < s <= _HALF_N):
        raise SignatureError("signature r or s out of range (high s is refused, EIP-2)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes([v - 27]), digest, hasher=None
        )
    except Exception as exc:  # libsecp256k1 raises plain Exception on unrecoverable input
        raise SignatureError("signature does not recover to any public key") from exc
    return keccak(public_key.format(compressed=False)[1:])[-20:]


class FastRecoverer:
    """:func:`recover_digest` for hot loops (telemetry ingest): same checks, same results.

    Calls libsecp256k1 through coincurve's cffi binding with buffers allocated once, and returns
    ``None`` instead of raising for a malformed or unrecoverable signature. Not thread-safe: use
    one instance per thread.
    """

    def __init__(self) -> None:
        from coincurve._libsecp256k1 import ffi, lib
        from coincurve.context import GLOBAL_CONTEXT

        self._ctx = GLOBAL_CONTEXT.ctx
        self._rsig = ffi.new("secp256k1_ecdsa_recoverable_signature *")
        self._pub = ffi.new("secp256k1_pubkey *")
        self._out = ffi.new("unsigned char[65]")
        self._out_len = ffi.new("size_t *", 65)
        self._out_buf = ffi.buffer(self._out)
        self._parse = lib.secp256k1_ecdsa_recoverable_signature_parse_compact
        self._recover = lib.secp256k1_ecdsa_recover
        self._serialize = lib.secp256k1_ec_pubkey_serialize
        self._uncompressed = lib.SECP256K1_EC_UNCOMPRESSED

    def address(self, digest: bytes, signature: bytes) -> bytes | None:
        """The 20-byte address that signed the 32-byte ``digest``, or ``None``."""
        if len(signature) != 65 or len(digest) != 32:
            return None
        v = signature[64] - 27
        if v not in (0, 1):
            return None
        r = int.from_bytes(signature[:32])
        s = int.from_bytes(signature[32:64])
        if not (0 < r < SECP256K1_N and 0 < s <= _HALF_N):
            return None
        ctx = self._ctx
        if not self._parse(ctx, self._rsig, signature[:64], v):
            return None
        if not self._recover(ctx, self._pub, self._rsig, digest):
            return None
        self._out_len[0] = 65
        self._serialize(ctx, self._out, self._out_len, self._pub, self._uncompressed)
        return keccak(self._out_buf[1:])[-20:]


# --- EIP-712 -------------------------------------------------------------------------------------

_Encoder = Callable[[Any], bytes]


def _uint_encoder(bits: int, name: str) -> _Encoder:
    limit = 1 << bits

    def encode(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            raise ValidationError(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")
        return value.to_bytes(32)

    return encode


def _int_encoder(bits: int, name: str) -> _Encoder:
    bound = 1 << (bits - 1)

    def encode(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or not -bound <= value < bound:
            raise ValidationError(f"{name} must be an integer in [-2**{bits - 1}, 2**{bits - 1})")
        return (value % (1 << 256)).to_bytes(32)

    return encode


def _fixed_bytes_encoder(size: int, name: str) -> _Encoder:
    def encode(value: Any) -> bytes:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
        if not isinstance(raw, bytes) or len(raw) != size:
            raise ValidationError(f"{name} must be {size} bytes")
        return raw.ljust(32, b"\0")

    return encode


def _encoder_for(type_name: str, name: str) -> _Encoder:
    if type_name == "address":
        return lambda value: address_bytes(value, name).rjust(32, b"\0")
    if type_name == "bool":
        return lambda value: (
            1 if value is True else 0 if value is False else _bad_bool(name)
        ).to_bytes(32)
    if type_name == "string":
        return lambda value: (
            keccak(value.encode()) if isinstance(value, str) else _bad(name, "text")
        )
    if type_name == "bytes":
        return lambda value: keccak(value) if isinstance(value, bytes) else _bad(name, "bytes")
    if match := re.fullmatch(r"uint(\d+)", type_name):
        return _uint_encoder(int(match[1]), name)
    if match := re.fullmatch(r"int(\d+)", type_name):
        return _int_encoder(int(match[1]), name)
    if match := re.fullmatch(r"bytes(\d+)", type_name):
        return _fixed_bytes_encoder(int(match[1]), name)
    raise ValidationError(f"EIP-712 type {type_name!r} of field {name!r} is not supported")


def _bad(name: str, what: str) -> bytes:
    raise ValidationError(f"{name} must be {what}")


def _bad_bool(name: str) -> int:
    raise ValidationError(f"{name} must be true or false")


@dataclass(frozen=True)
class MessageType:
    """An EIP-712 struct type: its name and ``(field_name, solidity_type)`` pairs, in order."""

    name: str
    fields: tuple[tuple[str, str], ...]

    @cached_property
    def encode_type(self) -> str:
        """``Name(type1 field1,type2 field2,...)`` as EIP-712 defines it."""
        return f"{self.name}({','.join(f'{t} {n}' for n, t in self.fields)})"

    @cached_property
    def type_hash(self) -> bytes:
        return keccak(self.encode_type.encode())

    @cached_property
    def _encoders(self) -> tuple[tuple[str, _Encoder], ...]:
        return tuple((n, _encoder_for(t, f"{self.name}.{n}")) for n, t in self.fields)

    def hash_struct(self, message: Mapping[str, Any]) -> bytes:
        """``keccak(typeHash || encodeData(message))``; raises on a missing or ill-typed field."""
        parts = [self.type_hash]
        try:
            for name, encode in self._encoders:
                parts.append(encode(message[name]))
        except KeyError as exc:
            raise ValidationError(f"{self.name} message lacks field {exc.args[0]!r}") from None
        extra = set(message) - {n for n, _ in self.fields}
        if extra:
            raise ValidationError(f"{self.name} message has unknown fields {sorted(extra)}")
        return keccak(b"".join(parts))


EIP712_DOMAIN = MessageType(
    "EIP712Domain", (("name", "string"), ("version", "string"), ("chainId", "uint256"))
)
#: The domain of messages that one contract checks (orders and cancels of one region's market).
EIP712_CONTRACT_DOMAIN = MessageType(
    "EIP712Domain",
    (
        ("name", "string"),
        ("version", "string"),
        ("chainId", "uint256"),
        ("verifyingContract", "address"),
    ),
)

#: A market order. ``side`` 0 = bid (buy), 1 = ask (sell); ``slot`` is the slot start [Unix s];
#: ``target`` is an energy company's address or the zero address for the open market.
ORDER = MessageType(
    "Order",
    (
        ("region", "bytes32"),
        ("slot", "uint64"),
        ("side", "uint8"),
        ("energyWh", "uint64"),
        ("priceMicroPerKwh", "uint64"),
        ("owner", "address"),
        ("nonce", "uint64"),
        ("target", "address"),
    ),
)

#: Withdrawal of an order before gate closure, signed by the order's owner.
CANCEL = MessageType(
    "Cancel",
    (
        ("region", "bytes32"),
        ("slot", "uint64"),
        ("orderHash", "bytes32"),
        ("owner", "address"),
        ("nonce", "uint64"),
    ),
)


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain: it binds every signature to this application and one chain.

    With ``verifying_contract`` (the 20-byte address of a region's market contract) it also binds
    the signature to that contract, so an order signed for one market deployment cannot be
    replayed on another on the same chain (EIP-712's ``verifyingContract``). Orders and cancels
    use a market's contract domain; meter readings and device commands, which no contract checks,
    use the chain-only domain.
    """

    chain_id: int
    name: str = "gridledger"
    version: str = "1"
    verifying_contract: bytes | None = None

    def __post_init__(self) -> None:
        if self.verifying_contract is not None and (
            not isinstance(self.verifying_contract, bytes) or len(self.verifying_contract) != 20
        ):
            raise ValidationError(
                f"verifying_contract must be a 20-byte contract address, got "
                f"{self.verifying_contract!r}; pass the market contract's address bytes"
            )

    @classmethod
    def of_contract(cls, chain_id: int, contract: str | bytes) -> Domain:
        """The domain of the messages ``contract`` (0x-hex or 20 bytes) checks on ``chain_id``."""
        return cls(chain_id, verifying_contract=address_bytes(contract, "verifying contract"))

    @property
    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"name": self.name, "version": self.version}
        fields["chainId"] = self.chain_id
        if self.verifying_contract is not None:
            fields["verifyingContract"] = self.verifying_contract
        return fields

    @property
    def _type(self) -> MessageType:
        return EIP712_DOMAIN if self.verifying_contract is None else EIP712_CONTRACT_DOMAIN

    @cached_property
    def separator(self) -> bytes:
        return self._type.hash_struct(self._fields)

    def digest(self, mtype: MessageType, message: Mapping[str, Any]) -> bytes:
        """The 32-byte EIP-712 digest ``keccak(0x1901 || domainSeparator || hashStruct)``."""
        return keccak(b"\x19\x01" + self.separator + mtype.hash_struct(message))

    def sign(self, signer: Signer, mtype: MessageType, message: Mapping[str, Any]) -> bytes:
        """Sign ``message`` of type ``mtype``; returns the 65-byte signature."""
        return signer.sign_digest(self.digest(mtype, message))

    def recover(self, mtype: MessageType, message: Mapping[str, Any], signature: bytes) -> bytes:
        """The 20-byte address that signed ``message``."""
        return recover_digest(self.digest(mtype, message), signature)

    def verify(
        self,
        mtype: MessageType,
        message: Mapping[str, Any],
        signature: bytes,
        expected_signer: str | bytes,
    ) -> None:
        """Raise :class:`SignatureError` unless ``expected_signer`` signed ``message``."""
        expected = address_bytes(expected_signer, "expected signer")
        if self.recover(mtype, message, signature) != expected:
            raise SignatureError(
                f"{mtype.name} signature was not made by {checksum(expected)}; "
                "re-sign the message with that account's key and this chain id"
            )

    def typed_data(self, mtype: MessageType, message: Mapping[str, Any]) -> dict[str, Any]:
        """The standard EIP-712 JSON object (``eth_signTypedData_v4``) for wallets and tools."""

        def jsonable(value: Any) -> Any:
            return "0x" + value.hex() if isinstance(value, bytes) else value

        return {
            "types": {
                "EIP712Domain": [{"name": n, "type": t} for n, t in self._type.fields],
                mtype.name: [{"name": n, "type": t} for n, t in mtype.fields],
            },
            "primaryType": mtype.name,
            "domain": {
                k: checksum(v) if k == "verifyingContract" else v for k, v in self._fields.items()
            },
            "message": {k: jsonable(v) for k, v in message.items()},
        }


# --- keystore ------------------------------------------------------------------------------------


class Keystore:
    """A directory of passphrase-encrypted key files (Web3 Secret Storage v3, one per name).

    ``kdf_iterations`` tunes pbkdf2 for tests; by default the standard scrypt parameters are used.
    """

    def __init__(self, directory: Path | str, kdf_iterations: int | None = None) -> None:
        self.directory = Path(directory)
        self._kdf_iterations = kdf_iterations

    def _path(self, name: str) -> Path:
        if not _KEY_NAME_RE.match(name):
            raise KeystoreError(
                f"key name {name!r} is not valid; use letters, digits, '.', '_' and '-' (max 64)"
            )
        return self.directory / f"{name}.json"

    def create(self, name: str, passphrase: str, signer: Signer | None = None) -> str:
        """Store a new (or the given) key under ``name``; returns its address. Never overwrites."""
        from eth_account import Account

        if not passphrase:
            raise KeystoreError("refusing to store a key under an empty passphrase")
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"a key named {name!r} exists already at {path}; pick another name")
        signer = signer or Signer.generate()
        kwargs: dict[str, Any] = {}
        if self._kdf_iterations is not None:
            kwargs = {"kdf": "pbkdf2", "iterations": self._kdf_iterations}
        blob = Account.encrypt(signer.private_key, passphrase, **kwargs)
        blob["name"] = name
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(blob, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return signer.address

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_KEY_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeystoreError(
                f"no key named {name!r} in {self.directory}; create it with `gridledger keys new`"
            ) from None
        except OSError as exc:
            raise KeystoreError(
                f"keystore file {path} cannot be read: {exc.strerror or exc}"
            ) from None
        if len(raw) > MAX_KEY_FILE_BYTES:
            raise KeystoreError(f"keystore file {path} is too large for a v3 key file")
        try:
            blob = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise KeystoreError(
                f"keystore file {path} is not UTF-8 text (byte {exc.start}): it is corrupt; "
                "restore it from a backup or import the key again"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise KeystoreError(
                f"keystore file {path} is not JSON ({exc}): it is corrupt; restore it from a "
                "backup or import the key again"
            ) from None
        if (
            not isinstance(blob, dict)
            or not isinstance(blob.get("crypto"), dict)
            or not isinstance(blob.get("address"), str)
        ):
            raise KeystoreError(f"keystore file {path} is not a v3 key file")
        return blob

    def address(self, name: str) -> str:
        """The address stored with key ``name`` (no passphrase needed)."""
        text = "0x" + str(self._read(name)["address"]).removeprefix("0x")
        try:
            return checksum(text)
        except ValidationError:
            raise KeystoreError(
                f"keystore file of {name!r} holds {text[:50]!r}, not an address: it is corrupt"
            ) from None

    def load(self, name: str, passphrase: str) -> Signer:
        """Decrypt key ``name``; raise :class:`KeystoreError` on a wrong passphrase."""
        from eth_account import Account

        blob = self._read(name)
        try:
            signer = Signer(bytes(Account.decrypt(blob, passphrase)))
        except ValueError as exc:
            raise KeystoreError(f"wrong passphrase for key {name!r}") from exc
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            # a field missing or of the wrong type inside "crypto"
            raise KeystoreError(
                f"keystore file of {name!r} is not a valid v3 key file ({type(exc).__name__}: "
                f"{exc}); restore it from a backup or import the key again"
            ) from None
        if not same_address(signer.address, self.address(name)):
            raise KeystoreError(f"keystore file for {name!r} decrypts to a different address")
        return signer

    def names(self) -> list[str]:
        """Names of the stored keys, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if _KEY_NAME_RE.match(p.stem))
