"""The sampling work of ``perf.rl``: one worker class that fastparl, PARL, Ray and a serial loop all run.

It needs only numpy and gymnasium (plus mujoco / ale-py for those tasks), so that PARL's and Ray's
interpreters, which cannot import fastparl's dependencies, run exactly this code.  It is imported
as the top-level module ``workload`` (``perf/rl/`` first on ``sys.path``): PARL ships the ``.py`` files
beside its main script to its jobs, and jobs import them from there.

Tasks (sizes from PARL's own example configs):

- ``es-halfcheetah``: ES (PARL ``examples/ES``): a call evaluates mirrored pairs of parameter
  perturbations of an MLP policy on HalfCheetah-v5 (200-step episodes); returns the returns.
- ``a2c-cartpole``: A2C (PARL ``examples/A2C``): a call takes the weights and runs 5 envs x 20
  steps with an MLP policy; returns the batch (obs, actions, rewards, dones, values).
- ``impala-cartpole``: IMPALA (PARL ``examples/IMPALA``): 5 envs x 50 steps per call, behaviour
  logits included; actors run unsynchronised, new weights every 5th call.
- ``a2c-pong``: A2C on Atari Pong (ALE, 84x84 grey frames, stack of 4, frame skip 4): 5 envs x
  20 steps; the batch carries the uint8 frames (2.8 MB), the weights are a 450 KB MLP.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

TASKS: dict[str, dict[str, Any]] = {
    "es-halfcheetah": {"kind": "es", "env": "HalfCheetah-v5", "pairs": 2, "horizon": 200, "hidden": 64},
    "a2c-cartpole": {"kind": "a2c", "env": "CartPole-v1", "num_envs": 5, "steps": 20, "hidden": 64},
    "impala-cartpole": {"kind": "impala", "env": "CartPole-v1", "num_envs": 5, "steps": 50, "hidden": 64,
                        "batch": 1000, "broadcast": 5},
    "a2c-pong": {"kind": "a2c", "env": "ALE/Pong-v5", "num_envs": 5, "steps": 20, "hidden": 64},
}


def make_env(env_id: str) -> gym.Env:
    if env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
        env = gym.make(env_id, frameskip=1, repeat_action_probability=0.0, disable_env_checker=True)
        env = gym.wrappers.AtariPreprocessing(env, frame_skip=4, screen_size=84, noop_max=30)
        return gym.wrappers.FrameStackObservation(env, 4)
    return gym.make(env_id, disable_env_checker=True)


def features(obs: np.ndarray) -> np.ndarray:
    """Policy input: flat floats (Atari frames subsampled 4x per side: 4 x 21 x 21)."""
    obs = np.asarray(obs)
    if obs.dtype == np.uint8:
        obs = obs[..., ::4, ::4].astype(np.float32) * (1.0 / 255.0)
    return obs.reshape(len(obs), -1).astype(np.float32, copy=False)


def init_weights(task: str, seed: int = 0) -> np.ndarray:
    """Flat float32 weights of the task's MLP (input -> hidden -> outputs)."""
    n_in, hidden, n_out = _mlp_dims(task)
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((n_in, hidden)) / np.sqrt(n_in)
    w2 = rng.standard_normal((hidden, n_out)) / np.sqrt(hidden)
    return np.concatenate([w1.ravel(), w2.ravel()]).astype(np.float32)


def _mlp_dims(task: str, env: gym.Env | None = None) -> tuple[int, int, int]:
    spec = TASKS[task]
    probe = env if env is not None else make_env(spec["env"])
    n_in = int(features(probe.observation_space.sample()[None]).shape[1])
    act = probe.action_space
    if env is None:
        probe.close()
    n_out = int(np.prod(act.shape)) if isinstance(act, gym.spaces.Box) else int(act.n) + 1  # type: ignore[attr-defined]
    return n_in, spec["hidden"], n_out


def _forward(w: np.ndarray, dims: tuple[int, int, int], x: np.ndarray) -> np.ndarray:
    n_in, hidden, n_out = dims
    w1 = w[: n_in * hidden].reshape(n_in, hidden)
    w2 = w[n_in * hidden:].reshape(hidden, n_out)
    return np.tanh(x @ w1) @ w2


class Sampler:
    """Holds a task's environments and its policy; every system calls these methods remotely."""

    def __init__(self, task: str, seed: int):
        self.task, self.spec = task, TASKS[task]
        self.rng = np.random.default_rng(seed)
        n = 1 if self.spec["kind"] == "es" else self.spec["num_envs"]
        self.envs = [make_env(self.spec["env"]) for _ in range(n)]
        self.dims = _mlp_dims(task, self.envs[0])
        self.obs = [env.reset(seed=seed * 1000 + i)[0] for i, env in enumerate(self.envs)]
        self.weights: np.ndarray | None = None

    # ---------------------------------------------------------------- A2C / IMPALA
    def sample(self, weights: np.ndarray | None) -> dict[str, np.ndarray]:
        """Run ``steps`` steps of every env with the given (or last) weights; return the batch."""
        if weights is not None:
            self.weights = weights
        if self.weights is None:
            raise ValueError("sample(None) before any weights were given")
        steps, n = self.spec["steps"], len(self.envs)
        obs_buf = np.empty((steps, n, *np.shape(self.obs[0])), np.asarray(self.obs[0]).dtype)
        act_buf = np.empty((steps, n), np.int64)
        rew_buf = np.empty((steps, n), np.float32)
        done_buf = np.empty((steps, n), np.bool_)
        logit_buf = np.empty((steps, n, self.dims[2] - 1), np.float32)
        val_buf = np.empty((steps, n), np.float32)
        for t in range(steps):
            obs = np.stack(self.obs)
            out = _forward(self.weights, self.dims, features(obs))
            logits, value = out[:, :-1], out[:, -1]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            acts = (p.cumsum(1) > self.rng.random((n, 1))).argmax(1)
            obs_buf[t], act_buf[t], logit_buf[t], val_buf[t] = obs, acts, logits, value
            for i, env in enumerate(self.envs):
                o, r, term, trunc, _ = env.step(int(acts[i]))
                if term or trunc:
                    o, _ = env.reset()
                self.obs[i] = o
                rew_buf[t, i], done_buf[t, i] = r, term or trunc
        batch = {"obs": obs_buf, "actions": act_buf, "rewards": rew_buf, "dones": done_buf, "values": val_buf,
                 "last_obs": np.stack(self.obs)}
        if self.spec["kind"] == "impala":
            batch["behaviour_logits"] = logit_buf
        return batch

    # ---------------------------------------------------------------- ES
    def es(self, weights: np.ndarray, noise_seed: int, sigma: float = 0.02) -> dict[str, np.ndarray]:
        """Mirrored perturbations ``weights ± sigma * eps_k`` (eps from ``noise_seed``), one episode each."""
        pairs, horizon = self.spec["pairs"], self.spec["horizon"]
        eps = np.random.default_rng(noise_seed).standard_normal((pairs, len(weights))).astype(np.float32)
        returns = np.zeros((pairs, 2), np.float64)
        steps = 0
        env = self.envs[0]
        for k in range(pairs):
            for j, sign in enumerate((1.0, -1.0)):
                w = weights + sign * sigma * eps[k]
                obs, _ = env.reset()
                for _ in range(horizon):
                    act = np.tanh(_forward(w, self.dims, features(obs[None])))[0]
                    obs, r, term, trunc, _ = env.step(act)
                    returns[k, j] += r
                    steps += 1
                    if term or trunc:
                        break
        return {"returns": returns, "steps": np.array(steps), "noise_seed": np.array(noise_seed)}

    def close(self) -> None:
        for env in self.envs:
            env.close()


def batch_steps(batch: dict[str, np.ndarray]) -> int:
    """Env steps a batch holds."""
    return int(batch["steps"]) if "steps" in batch else int(batch["actions"].size)


def es_update(weights: np.ndarray, results: list[dict[str, np.ndarray]], lr: float = 0.01,
              sigma: float = 0.02) -> np.ndarray:
    """The learner's ES step (centred ranks skipped: plain mirrored-difference gradient)."""
    grad = np.zeros_like(weights)
    for res in results:
        r = res["returns"]
        eps = np.random.default_rng(int(res["noise_seed"])).standard_normal((len(r), len(weights))).astype(np.float32)
        grad += ((r[:, 0] - r[:, 1]).astype(np.float32)[:, None] * eps).sum(0)
    scale = max(1.0, float(np.abs(grad).max()))
    return weights + lr / (sigma * scale) * grad
