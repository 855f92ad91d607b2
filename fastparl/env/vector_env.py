"""PARL's ``parl.env.vector_env.VectorEnv``: step a list of old-style envs, resetting those that finish.

This is PARL's class, with PARL's behaviour: a Python list of env *instances* (each with gym < 0.26's
API, e.g. wrapped in :class:`~fastparl.env.CompatWrapper` or ``wrap_deepmind``) stepped one after the
other.  fastparl's own batched envs with shared-memory buffers, gymnasium's API and optional actor
processes are :class:`~fastparl.env.LocalVectorEnv` / :class:`~fastparl.env.RemoteVectorEnv`
(see :func:`~fastparl.env.make_vector_env`).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["VectorEnv"]


class VectorEnv:
    """A vector of envs with ``reset()`` and ``step(actions)`` over all of them.

    ``step`` resets an env whose episode is done and returns the first observation of its next
    episode in place of the last one (the last observation is lost, as in PARL).

    Args:
        envs: env instances with the old gym API: ``reset() -> obs``, ``step(a) -> (obs, reward, done, info)``.
    """

    def __init__(self, envs: Sequence[Any]) -> None:
        self.envs = list(envs)
        self.envs_num = len(self.envs)

    def reset(self) -> list[Any]:
        """Reset every env; returns the list of first observations."""
        return [env.reset() for env in self.envs]

    def step(self, actions: Sequence[Any]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        """Step env ``i`` with ``actions[i]``; returns lists ``(obs, rewards, dones, infos)``.

        Raises:
            TypeError: if an env returns gymnasium's 5 values (wrap it with ``CompatWrapper``).
        """
        obs_batch, reward_batch, done_batch, info_batch = [], [], [], []
        for env_id in range(self.envs_num):
            out = self.envs[env_id].step(actions[env_id])
            if len(out) != 4:
                raise TypeError(f"VectorEnv (PARL's) steps old gym-style envs, but env {env_id} returned "
                                f"{len(out)} values: wrap it with fastparl.env.CompatWrapper(env), or batch "
                                "gymnasium envs with fastparl.env.make_vector_env")
            obs, reward, done, info = out
            if done:
                obs = self.envs[env_id].reset()
            obs_batch.append(obs)
            reward_batch.append(reward)
            done_batch.append(done)
            info_batch.append(info)
        return obs_batch, reward_batch, done_batch, info_batch
