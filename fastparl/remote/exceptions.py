"""PARL's ``parl.remote.exceptions`` names, as aliases of :mod:`fastparl.errors` (nothing new is defined).

``except parl.remote.exceptions.RemoteError`` in PARL code catches fastparl's errors.  PARL's
separate serialize/deserialize errors are both :class:`~fastparl.errors.SerializationError`; a
future's ``get`` may be called again in fastparl, so ``FutureGetRepeatedlyError`` is never raised,
and a failed call raises its own error (``FutureFunctionError`` is the base ``FastparlError``).
"""

from fastparl.errors import (
    FastparlError,
    FutureTimeoutError,
    RemoteAttributeError,
    RemoteError,
    ResourceError,
    SerializationError,
)

__all__ = [
    "FutureFunctionError",
    "FutureGetRepeatedlyError",
    "FutureObjectEmpty",
    "RemoteAttributeError",
    "RemoteDeserializeError",
    "RemoteError",
    "RemoteSerializeError",
    "ResourceError",
]

RemoteSerializeError = SerializationError
RemoteDeserializeError = SerializationError
FutureGetRepeatedlyError = FastparlError
FutureFunctionError = FastparlError
FutureObjectEmpty = FutureTimeoutError  # no result yet: fastparl's Future.result(timeout) raises this
