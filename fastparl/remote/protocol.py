"""Operation codes of the frames exchanged by drivers, actors and the fork server."""

# driver -> actor
INIT = 1  # payload: (class spec, args, kwargs, sys.path, cwd)
CALL = 2  # payload: (method name, args, kwargs)
GETATTR = 3  # payload: name
SETATTR = 4  # payload: (name, value)
# actor -> driver
OK = 10  # payload: result
ERR = 11  # payload: ErrorInfo tuple, see actor.error_info
CALLABLE = 12  # reply to GETATTR: the attribute is callable; call it by name
# driver <-> fork server
SPAWN = 20  # payload: dict(env=..., name=...); descriptors: actor socket, stdout, stderr
STATUS = 21  # payload: pid -> exit code or None


class PeerClosed(Exception):
    """The other end of a link is gone (its process exited, or the link was closed)."""
