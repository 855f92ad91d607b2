"""PARL's ``parl.env.atari_wrappers`` on gymnasium and ale-py: DeepMind-style Atari preprocessing.

``wrap_deepmind(gymnasium.make("PongNoFrameskip-v4"))`` gives PARL's (and OpenAI baselines') stack:
old gym API, episode statistics, up to 30 no-ops at reset, frame skip 4 with a max over the last two
frames, end of life = end of episode for learning, FIRE at reset, 84x84 grey frames, rewards clipped
to their sign, 4 stacked frames.

Importing this module registers ale-py's environments with gymnasium (``gymnasium.register_envs``),
so PARL code that calls ``gym.make("PongNoFrameskip-v4")`` after importing it runs unchanged.
Needs ``pip install 'fastparl[atari]'`` (ale-py and OpenCV for the frame resize).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Iterator

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fastparl.env.compat_wrappers import AnyEnv, CompatWrapper, OldApiWrapper

try:  # make the ALE ids known to gymnasium.make, as gym < 0.26 with atari-py did by itself
    import ale_py

    gym.register_envs(ale_py)
except ImportError:  # pragma: no cover - depends on the environment
    pass

__all__ = ["ClipRewardEnv", "EpisodicLifeEnv", "FireResetEnv", "FrameStack", "MaxAndSkipEnv", "MonitorEnv",
           "NoopResetEnv", "TestEnv", "WarpFrame", "get_wrapper_by_cls", "wrap_deepmind"]


def get_wrapper_by_cls(env: Any, cls: type) -> Any:
    """The first wrapper of class ``cls`` in ``env``'s chain of wrappers, or None."""
    current = env
    while True:
        if isinstance(current, cls):
            return current
        if isinstance(current, gym.Wrapper):
            current = current.env
        else:
            return None


class MonitorEnv(OldApiWrapper):
    """Records raw episode returns and lengths (put it below the wrappers that change rewards or episodes).

    At the end of an episode ``info["episode"]`` holds ``r``, ``l`` and ``t``; the history is in
    :meth:`get_episode_rewards` / :meth:`get_episode_lengths` (an episode is recorded at the next reset).
    """

    def __init__(self, env: AnyEnv) -> None:
        super().__init__(env)
        self._current_reward: float | None = None
        self._num_steps: int | None = None
        self._total_steps: int | None = None
        self._episode_rewards: list[float] = []
        self._episode_lengths: list[int] = []
        self._num_episodes = 0
        self._num_returned = 0
        self.tstart = time.time()

    def reset(self, **kwargs: Any) -> Any:
        obs = self.env.reset(**kwargs)
        if self._total_steps is None:
            self._total_steps = sum(self._episode_lengths)
        if self._current_reward is not None:
            self._episode_rewards.append(self._current_reward)
            self._episode_lengths.append(self._num_steps or 0)
            self._num_episodes += 1
        self._current_reward = 0
        self._num_steps = 0
        return obs

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        if self._current_reward is None or self._num_steps is None or self._total_steps is None:
            raise RuntimeError("MonitorEnv.step() before reset(): call env.reset() first")
        obs, rew, done, info = self.env.step(action)
        self._current_reward += rew
        self._num_steps += 1
        self._total_steps += 1
        if done:
            info["episode"] = {"r": self._current_reward, "l": self._num_steps,
                               "t": round(time.time() - self.tstart, 6)}
        return obs, rew, done, info

    def get_episode_rewards(self) -> list[float]:
        return self._episode_rewards

    def get_episode_lengths(self) -> list[int]:
        return self._episode_lengths

    def get_total_steps(self) -> int | None:
        return self._total_steps

    def next_episode_results(self) -> Iterator[tuple[float, int]]:
        """Yield ``(return, length)`` of the episodes finished since the last call."""
        for i in range(self._num_returned, len(self._episode_rewards)):
            yield self._episode_rewards[i], self._episode_lengths[i]
        self._num_returned = len(self._episode_rewards)


class NoopResetEnv(OldApiWrapper):
    """Reset, then take a random number of no-ops (action 0) in [1, ``noop_max``]."""

    def __init__(self, env: AnyEnv, noop_max: int = 30) -> None:
        super().__init__(env)
        self.noop_max = noop_max
        self.override_num_noops: int | None = None
        self.noop_action = 0
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if meanings[0] != "NOOP":
            raise ValueError(f"NoopResetEnv needs action 0 to be NOOP, got {meanings}")

    def reset(self, **kwargs: Any) -> Any:
        self.env.reset(**kwargs)
        noops = self.override_num_noops
        if noops is None:
            noops = int(self.unwrapped.np_random.integers(1, self.noop_max + 1))
        obs = None
        for _ in range(noops):
            obs, _, done, _ = self.env.step(self.noop_action)
            if done:
                obs = self.env.reset(**kwargs)
        return obs

    def step(self, ac: Any) -> Any:
        return self.env.step(ac)


class ClipRewardEnv(OldApiWrapper):
    """Rewards become their sign: -1, 0 or +1."""

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        obs, reward, done, info = self.env.step(action)
        return obs, self.reward(reward), done, info

    def reward(self, reward: float) -> float:
        return np.sign(reward)


class FireResetEnv(OldApiWrapper):
    """Press FIRE (then action 2) at reset, for games that wait for it."""

    def __init__(self, env: AnyEnv) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ValueError(f"FireResetEnv needs action 1 to be FIRE and 3 actions or more, got {meanings}")

    def reset(self, **kwargs: Any) -> Any:
        self.env.reset(**kwargs)
        obs, _, done, _ = self.env.step(1)
        if done:
            self.env.reset(**kwargs)
        obs, _, done, _ = self.env.step(2)
        if done:
            self.env.reset(**kwargs)
        return obs

    def step(self, ac: Any) -> Any:
        return self.env.step(ac)


class EpisodicLifeEnv(OldApiWrapper):
    """A lost life ends the episode for the learner; the game itself is reset only when it is over."""

    def __init__(self, env: AnyEnv) -> None:
        super().__init__(env)
        self.lives = 0
        self.was_real_done = True

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        obs, reward, done, info = self.env.step(action)
        self.was_real_done = done
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:  # lives > 0: some games sit at 0 lives for a few frames before game over
            done = True
        self.lives = lives
        return obs, reward, done, info

    def reset(self, **kwargs: Any) -> Any:
        if self.was_real_done:
            obs = self.env.reset(**kwargs)
        else:  # a no-op step moves on from the lost-life state
            obs, _, _, _ = self.env.step(0)
        self.lives = self.env.unwrapped.ale.lives()
        return obs


class MaxAndSkipEnv(OldApiWrapper):
    """Repeat each action ``skip`` times; return the summed reward and the max of the last two frames."""

    def __init__(self, env: AnyEnv, skip: int = 4) -> None:
        super().__init__(env)
        self._obs_buffer = np.zeros((2, *env.observation_space.shape), dtype=np.uint8)  # type: ignore[misc]
        self._skip = skip

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        total_reward = 0.0
        done, info = False, {}
        for i in range(self._skip):
            obs, reward, done, info = self.env.step(action)
            if i == self._skip - 2:
                self._obs_buffer[0] = obs
            if i == self._skip - 1:
                self._obs_buffer[1] = obs
            total_reward += reward
            if done:
                break
        return self._obs_buffer.max(axis=0), total_reward, done, info


class WarpFrame(OldApiWrapper):
    """Grey ``dim x dim`` uint8 frames (OpenCV's RGB-to-grey and area resize, as PARL)."""

    def __init__(self, env: AnyEnv, dim: int) -> None:
        super().__init__(env)
        try:
            import cv2
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("WarpFrame needs OpenCV: pip install 'fastparl[atari]' "
                              "(or pip install opencv-python-headless)") from exc
        cv2.ocl.setUseOpenCL(False)
        self._cv2 = cv2
        self.width = dim
        self.height = dim
        self.observation_space = spaces.Box(low=0, high=255, shape=(self.height, self.width), dtype=np.uint8)

    def reset(self, **kwargs: Any) -> Any:
        return self.observation(self.env.reset(**kwargs))

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        obs, reward, done, info = self.env.step(action)
        return self.observation(obs), reward, done, info

    def observation(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        return cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)


class FrameStack(OldApiWrapper):
    """Stack the last ``k`` frames: shape ``(H, W, k)`` (``"NHWC"``) or ``(k, H, W)`` (``"NCHW"``)."""

    def __init__(self, env: AnyEnv, k: int, obs_format: str = "NHWC") -> None:
        super().__init__(env)
        if obs_format not in ("NHWC", "NCHW"):
            raise ValueError(f"obs_format must be 'NHWC' or 'NCHW', got {obs_format!r}")
        self.k = k
        self.frames: deque[Any] = deque([], maxlen=k)
        self.obs_format = obs_format
        h, w = env.observation_space.shape[:2]  # type: ignore[index]
        shape = (h, w, k) if obs_format == "NHWC" else (k, h, w)
        self.observation_space = spaces.Box(low=0, high=255, shape=shape,
                                            dtype=env.observation_space.dtype or np.uint8)

    def reset(self, **kwargs: Any) -> Any:
        ob = self.env.reset(**kwargs)
        for _ in range(self.k):
            self.frames.append(ob)
        return self._get_ob()

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        ob, reward, done, info = self.env.step(action)
        self.frames.append(ob)
        return self._get_ob(), reward, done, info

    def _get_ob(self) -> np.ndarray:
        if self.obs_format == "NHWC":
            return np.stack(self.frames, axis=2)
        return np.array(self.frames)


class TestEnv(OldApiWrapper):
    """An evaluation env: after every ``test_episodes`` real episodes (game over, not life lost),
    :meth:`get_real_done` is True and :meth:`get_eval_rewards` holds their returns.

    Args:
        env: a ``wrap_deepmind`` stack that contains a :class:`MonitorEnv`.
        test_episodes: episodes per evaluation.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, env: AnyEnv, test_episodes: int = 3) -> None:
        super().__init__(env)
        self._env = env
        monitor = get_wrapper_by_cls(env, MonitorEnv)
        if monitor is None:
            raise ValueError("TestEnv needs a MonitorEnv below it (as wrap_deepmind builds)")
        self._monitor: MonitorEnv = monitor
        self._test_episodes = test_episodes
        self._was_real_done = False
        self._eval_rewards: list[float] | None = None
        self._end_episode = len(self._monitor.get_episode_rewards()) + test_episodes

    def reset(self, **kwargs: Any) -> Any:
        obs = self._env.reset(**kwargs)
        # >= rather than ==: a no-op reset may finish several episodes at once
        if len(self._monitor.get_episode_rewards()) >= self._end_episode:
            self._was_real_done = True
            self._eval_rewards = self._monitor.get_episode_rewards()[-self._test_episodes:]
            self._end_episode += self._test_episodes
        else:
            self._was_real_done = False
            self._eval_rewards = None
        return obs

    def get_eval_rewards(self) -> list[float] | None:
        return self._eval_rewards

    def get_real_done(self) -> bool:
        return self._was_real_done


def wrap_deepmind(env: AnyEnv, dim: int = 84, framestack: bool = True, obs_format: str = "NHWC",
                  test: bool = False, test_episodes: int = 3) -> OldApiWrapper:
    """Configure a gymnasium Atari env DeepMind-style; the result has the old gym API.

    Args:
        env: e.g. ``gymnasium.make("PongNoFrameskip-v4")`` (frame skip is added for ``NoFrameskip`` ids).
        dim: observations are resized to ``dim x dim``.
        framestack: stack the last 4 frames.
        obs_format: ``"NHWC"`` or ``"NCHW"`` for the stacked frames.
        test: add a :class:`TestEnv` (evaluation over ``test_episodes`` episodes).
        test_episodes: episodes per evaluation when ``test``.
    """
    wrapped: OldApiWrapper = CompatWrapper(env)
    wrapped = MonitorEnv(wrapped)
    wrapped = NoopResetEnv(wrapped, noop_max=30)
    spec = wrapped.spec
    if spec is not None and "NoFrameskip" in spec.id:
        wrapped = MaxAndSkipEnv(wrapped, skip=4)
    wrapped = EpisodicLifeEnv(wrapped)
    if "FIRE" in wrapped.unwrapped.get_action_meanings():
        wrapped = FireResetEnv(wrapped)
    wrapped = WarpFrame(wrapped, dim)
    wrapped = ClipRewardEnv(wrapped)
    if framestack:
        wrapped = FrameStack(wrapped, 4, obs_format)
    if test:
        wrapped = TestEnv(wrapped, test_episodes)
    return wrapped
