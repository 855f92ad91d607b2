"""The one helper behind every ``backend`` fixture: connect, skip what the backend cannot promise, clean up."""

from __future__ import annotations

from typing import Any, Iterator

import pytest


def connected(request: Any, target: str, label: str | None = None, **connect_kwargs: Any) -> Iterator[str]:
    """Connect to ``target`` for one test (a generator for ``yield from`` in a fixture).

    Tests marked ``@pytest.mark.requires("shared_memory", ...)`` are skipped where the backend's
    Capabilities lack one; the connection is closed after the test either way.
    """
    import fastparl

    label = label or target
    fastparl.disconnect()
    fastparl.connect(target, **connect_kwargs)
    marker = request.node.get_closest_marker("requires")
    if marker is not None:
        caps = fastparl.remote.backend().capabilities
        missing = [c for c in marker.args if not caps.has(c)]
        if missing:
            fastparl.disconnect()
            pytest.skip(f"the {label} backend lacks {missing}")
    try:
        yield label
    finally:
        fastparl.disconnect()
