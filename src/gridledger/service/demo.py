"""The demo accounts' keys in the server's keystore.

With demo sign-ins on, ``gridledger serve`` stores the key of every simulated household
(``demo-<site>``), of each region's energy company (``demo-company-<region>``), of the region
operator (``demo-operator``) and of the city admin (``demo-admin``) in the keystore
(``keystore_dir``, default ``data_dir/keys``) under the passphrase :data:`DEMO_PASSPHRASE`, and
the demo sign-in signs with the key loaded from there. These keys are public (derived from fixed
seeds, like ``gridledger simulate --settle``'s), so the file encryption is light (pbkdf2,
:data:`KDF_ITERATIONS`): development chains only. ``gridledger keys list`` shows them, and the
other commands can use them (e.g. ``--key demo-operator``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from gridledger.errors import KeystoreError
from gridledger.identity import Keystore, Signer

DEMO_PASSPHRASE = "demo"
KDF_ITERATIONS = 1000


class DemoKeys:
    """The demo keys of one keystore directory (cached once loaded)."""

    def __init__(self, directory: Path) -> None:
        self.keystore = Keystore(directory, KDF_ITERATIONS)
        self._loaded: dict[str, Signer] = {}
        self._lock = threading.Lock()

    def install(self, name: str, signer: Signer) -> None:
        """Store ``signer`` as ``name`` unless a key of that name exists (then it must match)."""
        if name in self.keystore.names():
            if self.keystore.address(name) != signer.address:
                raise KeystoreError(
                    f"the keystore's {name!r} is another key than the demo's; move it aside or "
                    "use another keystore_dir"
                )
            return
        self.keystore.create(name, DEMO_PASSPHRASE, signer)

    def load(self, name: str) -> Signer | None:
        """The demo key ``name`` from the keystore, or ``None`` if there is none."""
        with self._lock:
            if name not in self._loaded:
                if name not in self.keystore.names():
                    return None
                self._loaded[name] = self.keystore.load(name, DEMO_PASSPHRASE)
            return self._loaded[name]
