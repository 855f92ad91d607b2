"""PARL's step-based hyper-parameter schedulers (``parl.utils.LinearDecayScheduler`` ...)."""

from __future__ import annotations

__all__ = ["LinearDecayScheduler", "PiecewiseScheduler"]


def _check_step(step_num: int) -> None:
    if isinstance(step_num, bool) or not isinstance(step_num, int) or step_num < 1:
        raise ValueError(f"step_num must be an int >= 1, got {step_num!r}")


class PiecewiseScheduler:
    """Piecewise-constant values: ``[(step_0, v_0), (step_1, v_1), ...]``.

    Args:
        scheduler_list: ``(step, value)`` pairs with increasing steps.

    Raises:
        ValueError: if the list is empty or the steps do not increase.
    """

    def __init__(self, scheduler_list: list[tuple[int, float]]) -> None:
        if not scheduler_list:
            raise ValueError("PiecewiseScheduler needs at least one (step, value) pair")
        for (s0, _), (s1, _) in zip(scheduler_list, scheduler_list[1:], strict=False):
            if s0 >= s1:
                raise ValueError(f"steps of scheduler_list must increase, got {s0} then {s1}")
        self.scheduler_list = scheduler_list
        self.cur_index = 0
        self.cur_step = 0
        self.cur_value = scheduler_list[0][1]
        self.scheduler_num = len(scheduler_list)

    def step(self, step_num: int = 1) -> float:
        """Advance ``step_num`` steps and return the current value."""
        _check_step(step_num)
        self.cur_step += step_num
        while self.cur_index < self.scheduler_num - 1 and self.cur_step >= self.scheduler_list[self.cur_index + 1][0]:
            self.cur_index += 1
            self.cur_value = self.scheduler_list[self.cur_index][1]
        return self.cur_value


class LinearDecayScheduler:
    """``value = start_value * (1 - cur_step / max_steps)``, reaching 0 at ``max_steps``.

    Args:
        start_value: the value at step 0.
        max_steps: the step where the value reaches 0.

    Raises:
        ValueError: if ``max_steps`` is not positive.
    """

    def __init__(self, start_value: float, max_steps: int) -> None:
        if max_steps <= 0:
            raise ValueError(f"max_steps must be > 0, got {max_steps}")
        self.cur_step = 0
        self.max_steps = max_steps
        self.start_value = start_value

    def step(self, step_num: int = 1) -> float:
        """Advance ``step_num`` steps and return the current value."""
        _check_step(step_num)
        self.cur_step = min(self.cur_step + step_num, self.max_steps)
        return self.start_value * (1.0 - self.cur_step / self.max_steps)
