"""Payload encryption: what keeps candidate and referee details out of Temporal's history.

`encryption` is the PayloadCodec the clients and the worker share (AES-256-GCM, keys from
PAYLOAD_ENCRYPTION_KEYS) and the data converter that uses it; the codec endpoint the Temporal UI
calls to show operators the payloads in plain text is a process of its own, in
service/codec_server.py.
"""

from codec.encryption import (
    ENCODING,
    KEY_ID_METADATA_KEY,
    KEYS_ENV,
    EncryptionCodec,
    EncryptionConfigError,
    UnknownKeyError,
    data_converter,
    generate_key,
)

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA_KEY",
    "KEYS_ENV",
    "EncryptionCodec",
    "EncryptionConfigError",
    "UnknownKeyError",
    "data_converter",
    "generate_key",
]
