"""The Ray backend: the same ``@remote_class`` proxies, run as Ray actors (``fastparl[ray]``).

``fastparl.connect("ray")``, ``connect("ray://HOST:PORT")`` (Ray Client) or ``FASTPARL_BACKEND=ray``
select it.  Each fastparl actor is one Ray actor hosting fastparl's own
:class:`~fastparl.remote.dispatcher.Dispatcher` (:mod:`.host`, what runs in the actor's process), so
errors, tracebacks, attribute access and "one call at a time, in order" behave as on the other
backends; :mod:`.handle` is the driver's handle, :mod:`.objref` ``fastparl.put`` over Ray's object
store, and :mod:`.backend` the connection, resources and waiting.  Ray itself is imported only when
this backend is used.
"""

from fastparl.remote.ray.backend import RayBackend

__all__ = ["RayBackend"]
