"""Evaluation actors of the ES example (PARL's ``examples/ES/actor.py``), in numpy only.

An :class:`ESWorker` holds the noise table it was given at construction: with remote actors it is
the learner's ``fastparl.shared_array``, so every actor maps the same memory (PARL builds a
separate table in each actor).  ``sample(flat_weights, num_pairs)`` draws ``num_pairs`` noise
offsets, runs the mirrored pair ``theta + sigma * eps`` / ``theta - sigma * eps`` of each for one
episode, and returns the offsets and returns as PARL's ``Actor.sample`` does.  All ``2 * num_pairs``
policies run side by side: one batched numpy forward pass per step for the episodes still running.
It never imports paddle.  ``Actor`` is the same class under ``@parl.remote_class(wait=False)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import fastparl as parl

__all__ = ["ESWorker", "Actor", "batched_policy_forward"]


def batched_policy_forward(thetas: np.ndarray, shapes: Sequence[tuple[int, ...]], obs: np.ndarray) -> np.ndarray:
    """Logits of K MLPs at once: ``thetas`` ``(K, D)`` flat weights, ``obs`` ``(K, obs_dim)`` -> ``(K, act_dim)``.

    ``shapes`` alternate ``(in, out)`` weights (paddle's layout) and ``(out,)`` biases, in the order of
    ``ES.get_flat_weights()``; hidden layers use tanh.
    """
    h, i, layers = obs, 0, len(shapes) // 2
    for layer in range(layers):
        (n_in, n_out), (n_b,) = shapes[2 * layer], shapes[2 * layer + 1]
        w = thetas[:, i:i + n_in * n_out].reshape(-1, n_in, n_out)
        i += n_in * n_out
        b = thetas[:, i:i + n_b]
        i += n_b
        h = np.einsum("ki,kio->ko", h, w) + b
        if layer < layers - 1:
            np.tanh(h, out=h)
    return h


class ESWorker:
    """Runs perturbed copies of the policy for one episode each.

    Args:
        env_id: gymnasium id (discrete actions, vector observations; greedy ``argmax`` policy).
        noise: the noise table, a 1-D float32 array (the learner's shared array when remote).
        weights_shapes: ``ES.weights_shapes``.
        noise_stdev: sigma of the perturbations.
        seed: seed of the noise offsets and of the envs' resets.
    """

    def __init__(self, env_id: str, noise: np.ndarray, weights_shapes: Sequence[tuple[int, ...]],
                 noise_stdev: float, seed: int) -> None:
        self.env_id, self.noise_stdev = env_id, float(noise_stdev)
        self.noise = noise[:]  # a view of the same memory, made read-only: actors never write the table
        self.noise.flags.writeable = False
        self.shapes = [tuple(s) for s in weights_shapes]
        self.dim = int(sum(int(np.prod(s)) for s in self.shapes))
        if self.dim > len(noise):
            raise ValueError(f"noise table of {len(noise)} values is smaller than the {self.dim} weights; "
                             f"use --noise-size >= {self.dim}")
        self.rng = np.random.default_rng(seed)
        self.envs: list[gym.Env] = []

    def _rollout(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run policy k (row k of ``thetas``) in env k for one episode; returns (returns, lengths)."""
        k = len(thetas)
        while len(self.envs) < k:
            self.envs.append(gym.make(self.env_id, disable_env_checker=True))
        seeds = self.rng.integers(0, 2**31 - 1, size=k)
        obs = np.stack([self.envs[j].reset(seed=int(seeds[j]))[0] for j in range(k)]).astype(np.float32)
        returns, lengths = np.zeros(k), np.zeros(k, np.int64)
        active = np.arange(k)
        params = thetas
        while active.size:
            actions = batched_policy_forward(params, self.shapes, obs[active]).argmax(axis=1)
            ended = []
            for j, e in enumerate(active):
                o, r, term, trunc, _ = self.envs[e].step(int(actions[j]))
                obs[e] = o
                returns[e] += r
                lengths[e] += 1
                if term or trunc:
                    ended.append(j)
            if ended:
                active = np.delete(active, ended)
                params = thetas[active]
        return returns, lengths

    def sample(self, flat_weights: np.ndarray, num_pairs: int) -> dict[str, Any]:
        """Evaluate ``num_pairs`` mirrored perturbations of ``flat_weights``.

        Returns:
            PARL's dict: ``noise_indices`` ``(P,)`` int64, ``noisy_rewards`` and ``noisy_lengths``
            ``(P, 2)`` (``[+eps, -eps]``), ``eval_rewards`` / ``eval_lengths`` (empty: evaluation is
            done by the learner).
        """
        theta = np.asarray(flat_weights, np.float32)
        if theta.size != self.dim:
            raise ValueError(f"ESWorker.sample: got {theta.size} weights, expected {self.dim}")
        high = len(self.noise) - self.dim + 1
        idx = self.rng.integers(0, high, size=num_pairs)
        eps = self.noise_stdev * np.stack([self.noise[i:i + self.dim] for i in idx])
        returns, lengths = self._rollout(np.concatenate([theta + eps, theta - eps]))
        p = num_pairs
        return {"noise_indices": idx.astype(np.int64), "noisy_rewards": np.stack([returns[:p], returns[p:]], axis=1),
                "noisy_lengths": np.stack([lengths[:p], lengths[p:]], axis=1),
                "eval_rewards": [], "eval_lengths": []}

    def evaluate(self, flat_weights: np.ndarray, episodes: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths of ``episodes`` episodes of the unperturbed policy."""
        theta = np.asarray(flat_weights, np.float32)
        return self._rollout(np.repeat(theta[None], episodes, axis=0))

    def noise_info(self, index: int = 0) -> dict[str, Any]:
        """How this process holds the noise table (to check it is shared, not copied)."""
        import psutil

        mem = psutil.Process(os.getpid()).memory_full_info()
        return {"type": type(self.noise).__name__, "writeable": bool(self.noise.flags.writeable),
                "owndata": bool(self.noise.flags.owndata), "nbytes": int(self.noise.nbytes),
                "value": float(self.noise[index]), "pid": os.getpid(), "uss": int(mem.uss), "rss": int(mem.rss)}

    def close(self) -> None:
        """Close the envs."""
        for env in self.envs:
            env.close()


@parl.remote_class(wait=False)
class Actor(ESWorker):
    """:class:`ESWorker` in its own process: every method returns a future (``.get()``)."""
