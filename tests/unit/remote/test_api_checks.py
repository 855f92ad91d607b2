"""The public API checks its arguments before anything runs (shared_array, remote_class, connect), and its
old name for the current backend still answers, with a DeprecationWarning."""

import numpy as np
import pytest

import fastparl

from _actors import RemotePlain


def test_shared_array_arguments_are_checked():
    with pytest.raises(ValueError):
        fastparl.shared_array((-1, 3))
    with pytest.raises(TypeError):
        fastparl.shared_array(3, dtype=object)
    a = fastparl.shared_array((2, 3), "int16", fill=5)
    assert a.dtype == np.int16 and (a == 5).all()
    assert type(a + 1) is np.ndarray  # arithmetic results are plain arrays


def test_remote_class_argument_errors():
    with pytest.raises(TypeError, match="unknown option"):
        fastparl.remote_class(max_mem=3)
    with pytest.raises(ValueError, match="max_memory"):
        fastparl.remote_class(max_memory=-1)
    with pytest.raises(ValueError, match="n_gpu"):
        fastparl.remote_class(n_gpu=1.5)
    with pytest.raises(TypeError, match="wait"):
        fastparl.remote_class(wait="no")
    with pytest.raises(TypeError, match="classes"):
        fastparl.remote_class(lambda: None)
    with pytest.raises(TypeError, match="already"):
        fastparl.remote_class(RemotePlain)


def test_connect_rules(monkeypatch):
    fastparl.disconnect()
    fastparl.connect("serial")
    fastparl.connect("serial")  # same target: no-op
    with pytest.raises(fastparl.errors.ConnectionError, match="disconnect"):
        fastparl.connect("local")
    fastparl.disconnect()
    with pytest.raises(fastparl.errors.ConnectionError, match="bad host address"):
        fastparl.connect("nohostport")
    monkeypatch.setenv("FASTPARL_HOSTS", "h1:80,h2:notaport")
    with pytest.raises(fastparl.errors.ConnectionError, match="h2:notaport"):
        fastparl.connect()
    assert not fastparl.remote.is_connected()
    monkeypatch.delenv("FASTPARL_HOSTS")
    monkeypatch.setenv("FASTPARL_TOKEN", "t")
    with pytest.raises(fastparl.errors.ConnectionError, match="no fastparl worker answers at 192.0.2.1:8037"):
        fastparl.connect("192.0.2.1:8037", connect_timeout=0.2)  # nobody there (TEST-NET-1)
    assert not fastparl.remote.is_connected()
    with pytest.warns(UserWarning, match="no fastparl worker listens there"):
        fastparl.connect("localhost:8010")  # a PARL script after `xparl start`: the local backend
    with pytest.warns(UserWarning):
        fastparl.connect("127.0.0.1:8010")  # the same target again: a no-op
    try:
        assert RemotePlain().add() == 1
    finally:
        fastparl.disconnect()


def test_the_old_backend_call_still_answers_with_a_deprecation_warning(local):
    with pytest.deprecated_call():
        assert fastparl.remote.backend() is fastparl.remote.current_backend()
    with pytest.deprecated_call():
        from fastparl.remote.api import backend
    assert backend() is fastparl.current_backend()
