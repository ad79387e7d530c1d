"""Counter-based random numbers and order ids: a value is a pure function of its coordinates.

The simulator needs noise and ids that do not depend on how a run is cut into chunks, on which
process runs a region or on the order of work: so instead of drawing from a stateful generator,
each value is a hash of its coordinates (seed, region, household, slot, ...). The hash is
SplitMix64's finaliser (Steele, Lea and Flood 2014), a bijection on 64-bit words with full
avalanche, evaluated with numpy on whole arrays. It is not cryptographic and need not be: order
ids made with it only break price ties in clearing, where a deterministic content-derived order
is what matters; signed runs use the real EIP-712 order hashes instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(x: U64) -> U64:
    """SplitMix64's finaliser of every word of ``x`` (wrapping uint64 arithmetic)."""
    # arrays, never numpy scalars: array arithmetic wraps modulo 2**64 silently, as meant here
    x = np.atleast_1d(np.asarray(x, np.uint64))
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return np.asarray(x ^ (x >> np.uint64(31)), np.uint64)


def hash_words(*keys: npt.ArrayLike) -> U64:
    """One 64-bit hash per element of the broadcast ``keys`` (non-negative integers)."""
    h = np.zeros(1, np.uint64)
    for key in keys:
        h = mix64(h ^ (np.atleast_1d(np.asarray(key)).astype(np.uint64) + _GOLDEN))
    return np.asarray(h, np.uint64)


def uniform(*keys: npt.ArrayLike) -> F64:
    """A uniform number in [0, 1) per element of the broadcast ``keys``."""
    return np.asarray((hash_words(*keys) >> np.uint64(11)) * (1.0 / 2**53), np.float64)


def order_ids(base: int, *fields: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """32-byte ids, one per element of the broadcast 1-d ``fields`` (non-negative integers),
    under the 64-bit ``base`` (e.g. a :func:`hash_words` of seed and region).

    The fields are folded into one word (xor, then multiply by an odd constant: cheap, and
    distinct field tuples collide only by chance), which SplitMix64 finalises into the first
    8 bytes; the other 24 are odd multiples of it (bijections), so ids are as distinct as their
    first word, which is what clearing sorts by first.
    """
    key = np.full(1, base, np.uint64)
    for value in fields:
        key = (key ^ np.atleast_1d(np.asarray(value)).astype(np.uint64)) * _M1
    first = mix64(key)
    words = np.empty((len(first), 4), ">u8")
    words[:, 0] = first
    words[:, 1] = first * _M2
    words[:, 2] = first * _GOLDEN
    words[:, 3] = first * (_M1 | np.uint64(1))
    return words.view(np.uint8).reshape(len(first), 32)
