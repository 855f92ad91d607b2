"""The serial backend: actors run inside the driver's own process, for debugging (``connect("serial")``).

:mod:`.backend` is the :class:`~fastparl.remote.backend.Backend`, :mod:`.handle` the driver-side
handle, which runs the shared :class:`~fastparl.remote.dispatcher.Dispatcher` in this process (so
there is no ``host`` module: no actor process).
"""
