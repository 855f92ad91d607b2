"""The ZeroMQ backend: actors on worker daemons on other hosts (``fastparl worker``, ``FASTPARL_HOSTS``).

:mod:`.backend` is the :class:`~fastparl.remote.backend.Backend`; :mod:`.handle` the driver's handles
on actors; :mod:`.host` what runs in the actor's process (connect back, then the shared dispatcher);
:mod:`.worker` the daemon; :mod:`.control` the driver's control links to it; :mod:`.hub` the driver's
one socket for all its remote actors; :mod:`.wire` what travels; :mod:`.auth` the token handshake;
:mod:`.status` ``fastparl status``.  Imported only when a host list is connected to, so
``import fastparl`` does not load ZeroMQ.
"""
