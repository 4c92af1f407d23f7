"""Pairwise masks of secure aggregation (Bonawitz et al., CCS 2017), without the extra servers.

Each local node holds a fresh X25519 key pair per experiment; the controller relays the
public keys. Two nodes derive the same 32-byte seed for a round and output from their
shared secret (HKDF-SHA256), and expand it with ChaCha20 into 64-bit words. The node
whose id sorts first adds the words, the other subtracts them, so over all nodes of a
round every mask cancels modulo 2**64 and only the sum of the fixed-point values is left.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MaskingKey", "mask_words", "pair_mask", "pair_seed"]

_NONCE = bytes(16)  # each seed is used for one stream only, so a constant nonce is safe


class MaskingKey:
    """A node's X25519 key pair for one experiment; the private half never leaves the node."""

    __slots__ = ("_private", "_secrets")

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self._secrets: dict[bytes, bytes] = {}

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key the controller relays to the other nodes."""
        return self._private.public_key().public_bytes_raw()

    def shared_secret(self, peer_public: bytes) -> bytes:
        """The X25519 secret shared with the node whose public key is ``peer_public``."""
        secret = self._secrets.get(peer_public)
        if secret is None:
            if len(peer_public) != 32:
                raise ValueError(f"an X25519 public key has 32 bytes, got {len(peer_public)}")
            secret = self._secrets[peer_public] = self._private.exchange(X25519PublicKey.from_public_bytes(peer_public))
        return secret


def pair_seed(secret: bytes, low_id: str, high_id: str, context: str) -> bytes:
    """The seed two nodes share for one masked output (``context``: experiment, round, output)."""
    info = "\x1f".join(("mip-secure-sum/v1", low_id, high_id, context)).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def pair_mask(seed: bytes, count: int) -> npt.NDArray[np.uint64]:
    """``count`` pseudo-random 64-bit words expanded from ``seed`` (ChaCha20 keystream)."""
    encryptor = Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None).encryptor()
    stream = encryptor.update(bytes(8 * count))
    return np.frombuffer(stream, dtype="<u8").astype(np.uint64)


def mask_words(
    words: npt.NDArray[np.uint64], key: MaskingKey, node_id: str, peers: Mapping[str, bytes], context: str
) -> npt.NDArray[np.uint64]:
    """``words`` plus this node's pairwise masks with every peer (not itself) of the round."""
    masked = np.array(words, dtype=np.uint64, copy=True).reshape(-1)
    for peer_id, public in sorted(peers.items()):
        if peer_id == node_id:
            continue
        low, high = sorted((node_id, peer_id))
        mask = pair_mask(pair_seed(key.shared_secret(public), low, high, context), masked.size)
        if node_id == low:
            masked += mask
        else:
            masked -= mask
    return masked.reshape(np.shape(words))
