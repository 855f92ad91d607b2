"""CleanRL's ``ppo_continuous_action.py`` on PaddlePaddle, with the vector env chosen by one line.

The same algorithm, hyper-parameters, network, per-env wrappers and loop as CleanRL's single-file
PPO for continuous actions (https://github.com/vwxyzjn/cleanrl, ``cleanrl/ppo_continuous_action.py``,
gymnasium 1.x version: same-step autoreset, episode stats from ``infos["final_info"]``), written with
paddle instead of torch.  The only line that differs between vector envs is marked below::

    envs = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=SAME_STEP)    # --vector-env sync
    envs = gym.vector.AsyncVectorEnv(env_fns, autoreset_mode=SAME_STEP)   # --vector-env async
    envs = fastparl.env.RemoteVectorEnv(env_fns, num_actors=2, autoreset_mode=SAME_STEP)  # fastparl

The three take the same list of env functions and, for the same seed, give the same trajectories
(``tests/unit/env/test_cleanrl_example.py``); fastparl steps them in ``num_actors`` processes with
observations, rewards and actions in shared memory, one signal per actor per step.

The wrappers are per env, inside each env function, as CleanRL has them (so with fastparl they run in
the actors): gymnasium 1.x's *vector* ``NormalizeObservation`` refuses same-step autoreset, and
CleanRL's normalisation statistics are per env anyway.

    python examples/cleanrl_ppo_continuous_action.py --env-id HalfCheetah-v5 --num-envs 8 --vector-env fastparl
    python examples/cleanrl_ppo_continuous_action.py --env-id HalfCheetah-v5 --num-envs 8 --vector-env async

Differences from CleanRL: paddle (orthogonal init, Adam with eps 1e-5, global-norm clipping at 0.5,
as CleanRL's torch code); rollout storage in NumPy; no W&B / video / model upload flags; progress
goes to ``<logdir>/progress.csv`` (and TensorBoard with ``--tensorboard``); ``train()`` returns the
final return, the time spent stepping envs, acting and learning, and the first rollout (for tests).
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import fastparl.env
from fastparl.utils import TrainLogger
from fastparl.utils.arguments import parse_args

import paddle  # after fastparl, which sets paddle's CPU flags
import paddle.nn as nn
from paddle.distribution import Normal


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    vector_env: str = "fastparl"
    """which vector env steps the envs: fastparl (RemoteVectorEnv), async (AsyncVectorEnv) or sync (SyncVectorEnv)"""
    num_actors: int = 2
    """fastparl: how many actor processes share the envs"""
    threads: int = 1
    """paddle's CPU math threads"""
    logdir: str = ""
    """where progress.csv goes (default runs/<env>__<exp>__<seed>__<time>)"""
    tensorboard: bool = False
    """also write TensorBoard events"""

    # Algorithm specific arguments
    env_id: str = "HalfCheetah-v5"
    """the id of the environment"""
    total_timesteps: int = 1000000
    """total timesteps of the experiments"""
    learning_rate: float = 3e-4
    """the learning rate of the optimizer"""
    num_envs: int = 1
    """the number of parallel game environments"""
    num_steps: int = 2048
    """the number of steps to run in each environment per policy rollout"""
    anneal_lr: bool = True
    """Toggle learning rate annealing for policy and value networks"""
    gamma: float = 0.99
    """the discount factor gamma"""
    gae_lambda: float = 0.95
    """the lambda for the general advantage estimation"""
    num_minibatches: int = 32
    """the number of mini-batches"""
    update_epochs: int = 10
    """the K epochs to update the policy"""
    norm_adv: bool = True
    """Toggles advantages normalization"""
    clip_coef: float = 0.2
    """the surrogate clipping coefficient"""
    clip_vloss: bool = True
    """Toggles whether or not to use a clipped loss for the value function, as per the paper."""
    ent_coef: float = 0.0
    """coefficient of the entropy"""
    vf_coef: float = 0.5
    """coefficient of the value function"""
    max_grad_norm: float = 0.5
    """the maximum norm for the gradient clipping"""
    target_kl: float | None = None
    """the target KL divergence threshold"""

    # to be filled in runtime
    batch_size: int = 0
    """the batch size (computed in runtime)"""
    minibatch_size: int = 0
    """the mini-batch size (computed in runtime)"""
    num_iterations: int = 0
    """the number of iterations (computed in runtime)"""


def make_env(env_id, idx, gamma):
    def thunk():
        env = gym.make(env_id)
        env = gym.wrappers.FlattenObservation(env)  # deal with dm_control's Dict observation space
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = gym.wrappers.ClipAction(env)
        env = gym.wrappers.NormalizeObservation(env)
        env = gym.wrappers.TransformObservation(env, lambda obs: np.clip(obs, -10, 10), env.observation_space)
        env = gym.wrappers.NormalizeReward(env, gamma=gamma)
        env = gym.wrappers.TransformReward(env, lambda reward: np.clip(reward, -10, 10))
        return env

    return thunk


def make_vector_env(args, env_fns):
    """THE ONE LINE that picks the vector env: all three take the same env functions."""
    same_step = gym.vector.AutoresetMode.SAME_STEP
    if args.vector_env == "fastparl":
        return fastparl.env.RemoteVectorEnv(env_fns, num_actors=args.num_actors, autoreset_mode=same_step)
    if args.vector_env == "async":
        return gym.vector.AsyncVectorEnv(env_fns, autoreset_mode=same_step)
    if args.vector_env == "sync":
        return gym.vector.SyncVectorEnv(env_fns, autoreset_mode=same_step)
    raise ValueError(f"--vector-env {args.vector_env!r}: use fastparl, async or sync")


def layer_init(in_dim, out_dim, std=np.sqrt(2), bias_const=0.0):
    return nn.Linear(in_dim, out_dim, weight_attr=paddle.ParamAttr(initializer=nn.initializer.Orthogonal(std)),
                     bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(bias_const)))


class Agent(nn.Layer):
    def __init__(self, envs):
        super().__init__()
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        act_dim = int(np.prod(envs.single_action_space.shape))
        self.critic = nn.Sequential(
            layer_init(obs_dim, 64), nn.Tanh(),
            layer_init(64, 64), nn.Tanh(),
            layer_init(64, 1, std=1.0),
        )
        self.actor_mean = nn.Sequential(
            layer_init(obs_dim, 64), nn.Tanh(),
            layer_init(64, 64), nn.Tanh(),
            layer_init(64, act_dim, std=0.01),
        )
        self.actor_logstd = self.create_parameter([1, act_dim], default_initializer=nn.initializer.Constant(0.0))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        action_mean = self.actor_mean(x)
        action_logstd = self.actor_logstd.expand_as(action_mean)
        action_std = paddle.exp(action_logstd)
        probs = Normal(action_mean, action_std)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)


def train(args: Args) -> dict:
    args.batch_size = int(args.num_envs * args.num_steps)
    args.minibatch_size = int(args.batch_size // args.num_minibatches)
    args.num_iterations = args.total_timesteps // args.batch_size
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    writer = TrainLogger(args.logdir or f"runs/{run_name}", tensorboard=args.tensorboard)

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    paddle.seed(args.seed)
    paddle.base.core.set_num_threads(args.threads)

    # env setup
    envs = make_vector_env(args, [make_env(args.env_id, i, args.gamma) for i in range(args.num_envs)])
    assert isinstance(envs.single_action_space, gym.spaces.Box), "only continuous action space is supported"

    agent = Agent(envs)
    optimizer = paddle.optimizer.Adam(learning_rate=args.learning_rate, parameters=agent.parameters(), epsilon=1e-5,
                                      grad_clip=nn.ClipGradByGlobalNorm(args.max_grad_norm))

    # ALGO Logic: Storage setup
    obs = np.zeros((args.num_steps, args.num_envs) + envs.single_observation_space.shape, np.float32)
    actions = np.zeros((args.num_steps, args.num_envs) + envs.single_action_space.shape, np.float32)
    logprobs = np.zeros((args.num_steps, args.num_envs), np.float32)
    rewards = np.zeros((args.num_steps, args.num_envs), np.float32)
    dones = np.zeros((args.num_steps, args.num_envs), np.float32)
    values = np.zeros((args.num_steps, args.num_envs), np.float32)

    # TRY NOT TO MODIFY: start the game
    global_step = 0
    start_time = time.time()
    env_time = act_time = 0.0  # seconds in envs.step and in the policy's forward pass while collecting
    episodes: list[tuple[int, int, float]] = []  # (iteration, global_step, return) of each ended episode
    first_rollout: dict[str, np.ndarray] = {}
    next_obs, _ = envs.reset(seed=args.seed)
    next_done = np.zeros(args.num_envs, np.float32)

    try:
        for iteration in range(1, args.num_iterations + 1):
            # Annealing the rate if instructed to do so.
            if args.anneal_lr:
                frac = 1.0 - (iteration - 1.0) / args.num_iterations
                optimizer.set_lr(frac * args.learning_rate)

            for step in range(0, args.num_steps):
                global_step += args.num_envs
                obs[step] = next_obs
                dones[step] = next_done

                # ALGO LOGIC: action logic
                t0 = time.perf_counter()
                with paddle.no_grad():
                    action, logprob, _, value = agent.get_action_and_value(paddle.to_tensor(obs[step]))
                    values[step] = value.numpy().flatten()
                actions[step] = action.numpy()
                logprobs[step] = logprob.numpy()

                # TRY NOT TO MODIFY: execute the game and log data.
                t1 = time.perf_counter()
                next_obs, reward, terminations, truncations, infos = envs.step(actions[step])
                t2 = time.perf_counter()
                act_time, env_time = act_time + t1 - t0, env_time + t2 - t1
                next_done = np.logical_or(terminations, truncations).astype(np.float32)
                rewards[step] = reward

                if "final_info" in infos:
                    episodes_over = np.nonzero(infos["final_info"]["_episode"])[0]
                    for episodic_return in infos["final_info"]["episode"]["r"][episodes_over]:
                        episodes.append((iteration, global_step, float(episodic_return)))
                        print(f"global_step={global_step}, episodic_return={episodic_return}")
                        writer.log(global_step, episodic_return=float(episodic_return))
            if iteration == 1:
                first_rollout = {"obs": obs.copy(), "actions": actions.copy(), "rewards": rewards.copy(),
                                 "dones": dones.copy()}

            # bootstrap value if not done
            with paddle.no_grad():
                next_value = agent.get_value(paddle.to_tensor(next_obs, dtype="float32")).numpy().reshape(1, -1)
            advantages = np.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values

            # flatten the batch
            b_obs = paddle.to_tensor(obs.reshape((-1,) + envs.single_observation_space.shape))
            b_logprobs = paddle.to_tensor(logprobs.reshape(-1))
            b_actions = paddle.to_tensor(actions.reshape((-1,) + envs.single_action_space.shape))
            b_advantages = paddle.to_tensor(advantages.reshape(-1))
            b_returns = paddle.to_tensor(returns.reshape(-1))
            b_values = paddle.to_tensor(values.reshape(-1))

            # Optimizing the policy and value network
            b_inds = np.arange(args.batch_size)
            clipfracs = []
            for _epoch in range(args.update_epochs):
                np.random.shuffle(b_inds)
                for start in range(0, args.batch_size, args.minibatch_size):
                    end = start + args.minibatch_size
                    mb_inds = paddle.to_tensor(b_inds[start:end])

                    _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds])
                    logratio = newlogprob - b_logprobs[mb_inds]
                    ratio = logratio.exp()

                    with paddle.no_grad():
                        # calculate approx_kl http://joschu.net/blog/kl-approx.html
                        old_approx_kl = (-logratio).mean()
                        approx_kl = ((ratio - 1) - logratio).mean()
                        clipfracs += [float(((ratio - 1.0).abs() > args.clip_coef).astype("float32").mean())]

                    mb_advantages = b_advantages[mb_inds]
                    if args.norm_adv:
                        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                    # Policy loss
                    pg_loss1 = -mb_advantages * ratio
                    pg_loss2 = -mb_advantages * paddle.clip(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                    pg_loss = paddle.maximum(pg_loss1, pg_loss2).mean()

                    # Value loss
                    newvalue = newvalue.reshape([-1])
                    if args.clip_vloss:
                        v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                        v_clipped = b_values[mb_inds] + paddle.clip(
                            newvalue - b_values[mb_inds],
                            -args.clip_coef,
                            args.clip_coef,
                        )
                        v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                        v_loss_max = paddle.maximum(v_loss_unclipped, v_loss_clipped)
                        v_loss = 0.5 * v_loss_max.mean()
                    else:
                        v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                    entropy_loss = entropy.mean()
                    loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                    optimizer.clear_grad()
                    loss.backward()
                    optimizer.step()  # clips the gradients' global norm at max_grad_norm first

                if args.target_kl is not None and float(approx_kl) > args.target_kl:
                    break

            y_pred, y_true = values.reshape(-1), returns.reshape(-1)
            var_y = np.var(y_true)
            explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y

            # TRY NOT TO MODIFY: record rewards for plotting purposes
            sps = int(global_step / (time.time() - start_time))
            writer.log(global_step, learning_rate=optimizer.get_lr(), value_loss=float(v_loss),
                       policy_loss=float(pg_loss), entropy=float(entropy_loss), old_approx_kl=float(old_approx_kl),
                       approx_kl=float(approx_kl), clipfrac=float(np.mean(clipfracs)),
                       explained_variance=float(explained_var), SPS=sps)
            print("SPS:", sps)
    finally:
        envs.close()
        writer.close()

    wall = time.time() - start_time
    last = [r for it, _, r in episodes if it == args.num_iterations]
    return {
        "final_return": float(np.mean(last)) if last else float("nan"),  # episodes that ended in the last iteration
        "episodes": episodes,
        "last_losses": {"value_loss": float(v_loss), "policy_loss": float(pg_loss), "approx_kl": float(approx_kl)},
        "global_step": global_step,
        "wall_s": wall,
        "env_s": env_time,
        "act_s": act_time,
        "learn_s": wall - env_time - act_time,
        "first_rollout": first_rollout,
    }


if __name__ == "__main__":
    result = train(parse_args(Args, sys.argv[1:], description=__doc__.split("\n")[0]))
    print(f"final return {result['final_return']:.1f}, {result['wall_s']:.1f} s: envs {result['env_s']:.1f} s, "
          f"acting {result['act_s']:.1f} s, learning {result['learn_s']:.1f} s")
