"""PARL's ``parl.utils.exceptions`` names, as aliases of :mod:`fastparl.errors`."""

from __future__ import annotations

from fastparl.errors import FastparlError, SerializationError

__all__ = ["DeserializeError", "SerializeError", "UtilsError"]

UtilsError = FastparlError
SerializeError = SerializationError
DeserializeError = SerializationError
