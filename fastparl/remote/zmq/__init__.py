"""The ZeroMQ backend: actors on worker daemons on other hosts (``fastparl worker``, ``FASTPARL_HOSTS``).

:mod:`.worker` is the daemon; :mod:`.control` the driver's control links to it; :mod:`.hub` the
driver's one socket for all its remote actors; :mod:`.actor` the actor side; :mod:`.wire` what
travels; :mod:`.auth` the token handshake; :mod:`.backend` the :class:`~fastparl.remote.backend.Backend`.
Imported only when a host list is connected to, so ``import fastparl`` does not load ZeroMQ.
"""
