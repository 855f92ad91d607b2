"""The local backend's machinery: fork server, channels, shared-memory segments and arenas.

Used through :class:`.backend.LocalBackend` (registered as ``"local"`` in :mod:`fastparl.remote.backend`);
only the public type :class:`.shm.SharedArray` is imported from outside.
"""
