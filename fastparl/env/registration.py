"""gymnasium's ``make_vec`` for fastparl's vector envs: :func:`register_vector_env`."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from fastparl.env.vector import LocalVectorEnv, RemoteVectorEnv, make_vector_env

__all__ = ["register_vector_env"]


def register_vector_env(env_id: str, new_id: str | None = None) -> str:
    """Register ``new_id`` (default ``"fastparl/<env_id>"``): ``env_id``'s env, whose
    ``gymnasium.make_vec(new_id, num_envs, vectorization_mode="vector_entry_point", **kwargs)`` is
    :func:`make_vector_env`.  Returns ``new_id``.

    gymnasium takes custom vector envs only per id (``EnvSpec.vector_entry_point``; its
    ``vectorization_mode`` chooses among "sync", "async" and that entry point), so an id of
    another package keeps its own vectorizers and fastparl's comes under a new id.  ``kwargs``
    of ``make_vec`` go to :func:`make_vector_env` (``num_actors``, ``copy``, ``groups``,
    ``futex``, ``pin``, ``autoreset_mode``, ``info_format``) or else to ``gymnasium.make``;
    ``autoreset_mode`` defaults to gymnasium's NEXT_STEP here.  ``"sync"`` and ``"async"`` modes
    still work on ``new_id``.
    """
    spec = gym.spec(env_id)
    new_id = new_id or "fastparl/" + spec.id.replace("/", "_")
    entry = functools.partial(_vector_entry_point, env_id=spec.id)
    if new_id in gym.registry:
        old = gym.registry[new_id].vector_entry_point
        if isinstance(old, functools.partial) and old.func is _vector_entry_point and old.keywords == entry.keywords:
            return new_id
        raise ValueError(f"register_vector_env({env_id!r}): {new_id!r} is already registered for another env; "
                         "pass new_id=...")
    gym.register(new_id, entry_point=spec.entry_point, vector_entry_point=entry, kwargs=dict(spec.kwargs),
                 max_episode_steps=spec.max_episode_steps, reward_threshold=spec.reward_threshold,
                 nondeterministic=spec.nondeterministic, order_enforce=spec.order_enforce,
                 disable_env_checker=spec.disable_env_checker)
    return new_id


def _vector_entry_point(num_envs: int, *, env_id: str,
                        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                        **kwargs: Any) -> LocalVectorEnv | RemoteVectorEnv:
    """The ``vector_entry_point`` of :func:`register_vector_env`'s ids: gymnasium's default autoreset (NEXT_STEP)."""
    return make_vector_env(env_id, num_envs, autoreset_mode=autoreset_mode, **kwargs)
