"""Checkpoints of a whole off-policy training run, so that long runs survive interruptions (``--resume``).

What is saved, into one folder written atomically (a temporary folder, then renamed):

* every ``paddle.nn.Layer`` (model, target model), ``paddle.optimizer.Optimizer`` (Adam moments, step
  counts) and tensor or number attribute of ``agent.alg`` (SAC's ``log_alpha``, TD3's update counter);
* the replay memory (its filled part) and its sampling generator;
* the random states: NumPy's global one (warm-up and exploration noise), paddle's, and the training and
  evaluation envs' ``np_random``;
* the loop's counters (env steps, episodes, wall time, last evaluation).

The off-policy loop saves between episodes, just before the next ``reset`` (never at an evaluation step),
so a resumed run starts that same episode with the same random states: it continues exactly as the
uninterrupted run would (``tests/learning/test_checkpoint_resume.py`` checks the weights are identical).
PPO saves between updates, with its normalisers, schedules and agent's generator (``extra``); its envs'
episodes cannot be saved (they may run in actors), so a resumed PPO run starts new episodes: it
continues the same learning, not bit for bit.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastparl.utils.path_utils import atomic_folder

__all__ = ["save", "load", "exists", "saving_on_sigterm", "due", "exit_if_stopping"]

_stop = {"requested": False}  # set by SIGTERM inside saving_on_sigterm()


@contextlib.contextmanager
def saving_on_sigterm(enabled: bool = True) -> Iterator[None]:
    """While inside: SIGTERM asks the training loop to save a checkpoint at its next chance (:func:`due`) and
    exit with status 143 (:func:`exit_if_stopping`), instead of ending the run at once.  The previous handler
    is back on the way out.  A no-op unless ``enabled`` (the run checkpoints) and in the main thread.

    Needed because ``import paddle`` installs a SIGTERM handler that aborts the process: a run stopped with
    SIGTERM (``perf.mujoco``, a batch scheduler) would lose the training since its last periodic checkpoint."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def request(_signum: int, _frame: object) -> None:
        _stop["requested"] = True

    before = signal.signal(signal.SIGTERM, request)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        _stop["requested"] = False


def due(next_time: float) -> bool:
    """Whether to checkpoint now: the interval's end ``next_time`` (``time.time()``) passed, or SIGTERM asked."""
    return _stop["requested"] or time.time() >= next_time


def exit_if_stopping(folder: str) -> None:
    """After a checkpoint: if SIGTERM asked for it, end the run (``SystemExit(143)``; ``--resume`` goes on)."""
    if _stop["requested"]:
        from fastparl.utils import logger

        logger.info(f"SIGTERM: checkpoint saved in {folder}; stopping (run again with --resume to go on)")
        raise SystemExit(128 + signal.SIGTERM)


def exists(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, "state.pkl"))


def _learners(alg: Any) -> dict[str, tuple[str, Any]]:
    import paddle

    out: dict[str, tuple[str, Any]] = {}
    for name, value in vars(alg).items():
        if isinstance(value, paddle.nn.Layer):
            out[name] = ("layer", value)
        elif isinstance(value, paddle.optimizer.Optimizer):
            out[name] = ("optimizer", value)
        elif isinstance(value, paddle.Tensor):
            out[name] = ("tensor", value)
        elif isinstance(value, (bool, int, float)) and not name.startswith("__"):
            out[name] = ("number", value)
    return out


def save(folder: str, agent: Any, rpm: Any, envs: tuple[Any, ...], counters: dict[str, Any],
         extra: dict[str, Any] | None = None) -> None:
    """Write the checkpoint (see the module docstring) to ``folder``, replacing the last one.  ``rpm`` may be
    None (on-policy); ``extra`` holds picklable objects of the loop (normalisers, schedulers, ...)."""
    with atomic_folder(folder) as tmp:
        _write(tmp, agent, rpm, envs, counters, extra)


def _write(tmp: str, agent: Any, rpm: Any, envs: tuple[Any, ...], counters: dict[str, Any],
           extra: dict[str, Any] | None) -> None:
    import paddle

    params: dict[str, Any] = {}
    numbers: dict[str, Any] = {}
    for name, (kind, value) in _learners(agent.alg).items():
        if kind in ("layer", "optimizer"):
            params[name] = value.state_dict()
        elif kind == "tensor":
            params[name] = value
        else:
            numbers[name] = value
    paddle.save(params, os.path.join(tmp, "learners.pdparams"))
    if rpm is not None:
        n = rpm.size()
        np.savez(os.path.join(tmp, "replay.npz"), obs=rpm.obs[:n], action=rpm.action[:n], reward=rpm.reward[:n],
                 terminal=rpm.terminal[:n], next_obs=rpm.next_obs[:n],
                 other=np.array([rpm.size(), rpm._curr_pos], dtype=np.int64))
    state = {"counters": dict(counters), "numbers": numbers, "numpy": np.random.get_state(),
             "paddle": paddle.get_rng_state(),
             "rpm_rng": None if rpm is None or rpm.rng is None else rpm.rng.bit_generator.state,
             "envs": [env.unwrapped.np_random.bit_generator.state for env in envs], "extra": extra or {}}
    with open(os.path.join(tmp, "state.pkl"), "wb") as f:
        pickle.dump(state, f)


def load(folder: str, agent: Any, rpm: Any, envs: tuple[Any, ...]) -> dict[str, Any]:
    """Restore what :func:`save` wrote into ``agent``, ``rpm`` (or None) and ``envs`` (made as for a new run,
    and reset once so that their ``np_random`` exists); returns the loop's counters, with the ``extra``
    objects under ``"extra"``."""
    import paddle

    with open(os.path.join(folder, "state.pkl"), "rb") as f:
        state = pickle.load(f)  # noqa: S301 - our own file, in the run's own folder
    params = paddle.load(os.path.join(folder, "learners.pdparams"))
    for name, (kind, value) in _learners(agent.alg).items():
        if kind in ("layer", "optimizer") and name in params:
            value.set_state_dict(params[name])
        elif kind == "tensor" and name in params:
            value.set_value(params[name])
        elif kind == "number" and name in state["numbers"]:
            setattr(agent.alg, name, state["numbers"][name])
    if rpm is not None:
        with np.load(os.path.join(folder, "replay.npz")) as data:
            size, pos = (int(x) for x in data["other"])
            for key in ("obs", "action", "reward", "terminal", "next_obs"):
                getattr(rpm, key)[:size] = data[key]
        rpm._curr_size, rpm._curr_pos = size, pos
        if state["rpm_rng"] is not None and rpm.rng is not None:
            rpm.rng.bit_generator.state = state["rpm_rng"]
    np.random.set_state(state["numpy"])
    paddle.set_rng_state(state["paddle"])
    for env, s in zip(envs, state["envs"], strict=True):
        env.unwrapped.np_random.bit_generator.state = s
    return {**state["counters"], "extra": state.get("extra", {})}
