"""An env actor of RemoteVectorEnv that dies is an error of that vector env, within seconds, never a hang
(whichever way steps are signalled: futex or pipe; one group or two)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from fastparl.env import make_vector_env
from fastparl.errors import ActorDiedError

pytestmark = [pytest.mark.backends("local"), pytest.mark.timeout(60)]


def _env_actor_pids(env) -> list[int]:
    """The processes of the env's actors (other tests' processes may run beside them)."""
    return [w._fp_actor.pid for w in env.workers]


@pytest.mark.parametrize("futex,groups", [(True, 1), (False, 1), (None, 2)])
def test_a_dead_env_actor_fails_the_step(clean, futex, groups):
    env = make_vector_env("CartPole-v1", 4, num_actors=2, futex=futex, groups=groups)
    try:
        env.reset(seed=0)
        actions = np.zeros(4, dtype=np.int64)
        for _ in range(5):
            env.step(actions)
        pids = _env_actor_pids(env)
        assert len(pids) == 2, pids
        clean.track(*pids)
        os.kill(pids[-1], signal.SIGKILL)
        with clean.fails(ActorDiedError, match="died from SIGKILL", within=5):
            for _ in range(100):
                env.step(actions)
    finally:
        env.close()
