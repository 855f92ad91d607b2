"""Stable-Baselines3 models with the settings of fastparl's examples: the one place every SB3 run of perf/ builds
its model, so the speed report (``perf/training/runner.py``) and the mid-scale runs (``perf/mujoco/sb3_run.py``)
compare against the same SB3.

SB3 and torch are imported inside the functions: the module loads in fastparl's interpreter too (for the
constants).  :data:`DIFFERENCES` lists what still differs from fastparl's examples with these settings.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DIFFERENCES", "DQN_GRAD_STEPS", "DQN_LEARN_FREQ", "PPO_FULL", "PPO_QUICK", "make_env", "make_model"]

# PPO (the example's continuous preset): 1 env x 2048 steps, 10 epochs of 32 minibatches of 64; --quick: 512 x 2 x 8
PPO_FULL = dict(num_steps=2048, update_epochs=10, num_minibatches=32)
PPO_QUICK = dict(num_steps=512, update_epochs=2, num_minibatches=8)
DQN_LEARN_FREQ, DQN_GRAD_STEPS = 256, 128  # the DQN example's defaults: 128 gradient steps every 256 env steps
PPO_LR, PPO_STATS_WINDOW = 3e-4, 20  # the example's episode_return column: the mean of the last 20 episodes

DIFFERENCES = {
    "all": "initial weights: torch's default (Kaiming-uniform, a=sqrt(5)) for SB3, paddle's (Xavier-uniform, zero "
           "bias) for fastparl (PPO: orthogonal on both sides)",
    "offpolicy": "replay buffer sized to the run (min(1M, steps): it never fills either way, so no sample differs "
                 "in law); SB3 stores observations as the env's float64, fastparl as float32",
    "ppo": "value loss: SB3 takes the clipped term only, vf_coef 0.5 x (V_clip - R)^2, fastparl (PARL) "
           "0.5 x 0.5 x max((V - R)^2, (V_clip - R)^2); gradient clip 0.5 on the global norm (SB3) or on each "
           "tensor (PARL's ClipGradByNorm); VecNormalize resets its discounted return (the reward scale's statistic) "
           "at truncations too, fastparl's at terminations only",
}


def make_env(algo: str, env_id: str, seed: int) -> Any:
    """One env in SB3's ``DummyVecEnv`` (with its ``Monitor``), seeded ``seed``; PPO's in ``VecNormalize``
    (observations and rewards, gamma 0.99: the example's ``norm_obs``/``norm_reward``)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    env = make_vec_env(env_id, n_envs=1, seed=seed)
    return VecNormalize(env, gamma=0.99) if algo == "ppo" else env


def make_model(algo: str, env: Any, seed: int, warmup: int = 10_000, buffer_size: int = 1_000_000,
               ppo: dict[str, int] | None = None) -> tuple[Any, dict[str, Any]]:
    """SB3's ``algo`` (dqn, ppo, td3, sac, ddpg) on ``env`` (from :func:`make_env`) with the example's settings.

    Args:
        algo: lower-case algorithm name.
        env: the vector env to learn on.
        seed: SB3's seed (python, numpy, torch, the action space).
        warmup: uniformly random env steps before the first gradient step (off-policy ``learning_starts``).
        buffer_size: replay capacity (off-policy).
        ppo: PPO's rollout and epochs (:data:`PPO_FULL` by default).

    Returns:
        ``(model, settings)``: the model on the CPU, silent, and the settings that tell runs apart.
    """
    import numpy as np
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.noise import NormalActionNoise

    common = dict(seed=seed, device="cpu", verbose=0)
    if algo == "ppo":
        ppo = ppo or PPO_FULL
        lr = PPO_LR
        model = sb3.PPO("MlpPolicy", env, n_steps=ppo["num_steps"], batch_size=ppo["num_steps"] // ppo["num_minibatches"],
                        n_epochs=ppo["update_epochs"], learning_rate=lambda left: lr * left, gamma=0.99,
                        gae_lambda=0.95, clip_range=0.2, clip_range_vf=0.2, ent_coef=0.0, vf_coef=0.5,
                        max_grad_norm=0.5, stats_window_size=PPO_STATS_WINDOW,
                        policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh),
                        **common)
        return model, {"hidden": 64, **ppo, "minibatch": ppo["num_steps"] // ppo["num_minibatches"]}
    if algo == "dqn":
        model = sb3.DQN("MlpPolicy", env, learning_rate=1e-3, buffer_size=200_000, learning_starts=warmup,
                        batch_size=256, gamma=0.99, train_freq=DQN_LEARN_FREQ, gradient_steps=DQN_GRAD_STEPS,
                        target_update_interval=DQN_LEARN_FREQ, exploration_fraction=0.16, exploration_initial_eps=1.0,
                        exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[128, 128]), **common)
        return model, {"hidden": 128, "batch_size": 256, "warmup_steps": warmup, "memory_size": 200_000,
                       "learn_freq": DQN_LEARN_FREQ, "gradient_steps": DQN_GRAD_STEPS}
    act_dim = env.action_space.shape[0]
    noise = NormalActionNoise(np.zeros(act_dim), 0.1 * np.ones(act_dim))  # in SB3's [-1, 1] actions, as fastparl's
    off = dict(buffer_size=buffer_size, learning_starts=warmup, batch_size=256, tau=0.005, gamma=0.99, train_freq=1,
               gradient_steps=1, policy_kwargs=dict(net_arch=[256, 256]), **common)
    if algo == "sac":
        model = sb3.SAC("MlpPolicy", env, learning_rate=3e-4, ent_coef=0.2, **off)  # PARL: a fixed alpha
    elif algo == "td3":
        model = sb3.TD3("MlpPolicy", env, learning_rate=3e-4, action_noise=noise, policy_delay=2,
                        target_policy_noise=0.2, target_noise_clip=0.5, **off)
    elif algo == "ddpg":
        model = sb3.DDPG("MlpPolicy", env, learning_rate=1e-3, action_noise=noise, **off)
    else:
        raise ValueError(f"no SB3 model for algo {algo!r}: use one of dqn, ppo, td3, sac, ddpg")
    return model, {"hidden": 256, "batch_size": 256, "warmup_steps": warmup, "memory_size": buffer_size}
