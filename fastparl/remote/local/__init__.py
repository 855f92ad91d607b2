"""The local backend: one process per actor on this machine, with array payloads in shared memory.

By role: :mod:`.backend` is the :class:`~fastparl.remote.backend.Backend` (``LocalBackend``, registered
as ``"local"``, and ``ThisMachineBackend``, the ``put``/``shared_array``/``gpus`` of any backend whose
actors share this machine); :mod:`.handle` the driver's handle on one actor (``LocalActor``);
:mod:`.host` what runs in the actor's process.  The machinery below them: :mod:`.forkserver` (the
process that forks actors), :mod:`.channel` (the framed link: sockets plus shared-memory arenas),
:mod:`.arena`, :mod:`.segments`, :mod:`.shm` (``SharedArray``), :mod:`.objref` (``put()`` here) and
:mod:`.monitor` (actors' output and memory limits).

Used from outside this package (this package imports nothing from them at module level): the public
type ``SharedArray`` (re-exported by :mod:`fastparl.remote`); by the serial backend, ``ThisMachineBackend``
and the channel's out-of-band threshold; by the ZeroMQ backend, ``LocalBackend`` (actors placed on this
machine's workers, and the worker daemon's fork server), ``LocalActor`` and ``ActorSpawner`` (same-host
actors), ``Monitor`` (remote actors' output) and the ``SHARED`` segment kind (refused across hosts).
"""
