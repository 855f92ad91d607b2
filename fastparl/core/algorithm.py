"""``fastparl.Algorithm``: PARL's ``parl.Algorithm`` for the paddle backend."""

from __future__ import annotations

from typing import Any

from fastparl.core.model import Model

__all__ = ["Algorithm"]


class Algorithm:
    """Defines how a :class:`~fastparl.Model` is updated: losses and optimizers.

    As in PARL, subclasses set ``self.model`` (most call ``super().__init__(model)`` or
    assign it directly) and implement ``predict``, ``sample`` and/or ``learn``.  Ready-made
    algorithms live in :mod:`fastparl.algorithms`.

    Attributes:
        model: the network representing a policy or a Q function.

    Example:
        >>> dqn = parl.algorithms.DQN(model, gamma=0.99, lr=1e-3)
    """

    model: Model

    def __init__(self, model: Model | None = None) -> None:
        """Args:
            model: the network representing a policy or a Q function.

        Raises:
            TypeError: if ``model`` is not a :class:`fastparl.Model`.
        """
        if not isinstance(model, Model):
            raise TypeError(
                f"{type(self).__name__} needs a parl.Model (a paddle.nn.Layer subclass of "
                f"fastparl.Model), got {type(model).__name__}"
            )
        self.model = model

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        """Define the loss and run one optimisation step."""
        raise NotImplementedError(f"{type(self).__name__}.learn is not implemented")

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Return the greedy output (e.g. action probabilities or Q values) for ``obs``."""
        raise NotImplementedError(f"{type(self).__name__}.predict is not implemented")

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        """Return an exploratory (noisy or sampled) action for ``obs``."""
        raise NotImplementedError(f"{type(self).__name__}.sample is not implemented")

    def _require_model(self) -> Model:
        model = getattr(self, "model", None)
        if not isinstance(model, Model):
            raise AttributeError(
                f"{type(self).__name__} has no parl.Model in self.model; call "
                f"super().__init__(model) or set self.model in __init__"
            )
        return model

    def get_weights(self) -> dict[str, Any]:
        """Return the weights of ``self.model`` (PARL's paddle behaviour).

        Returns:
            Dict name -> numpy array, as :meth:`fastparl.Model.get_weights`.
        """
        return self._require_model().get_weights()

    def set_weights(self, params: dict[str, Any]) -> None:
        """Copy weights from :meth:`get_weights` into ``self.model``.

        Args:
            params: dict name -> numpy array.
        """
        self._require_model().set_weights(params)
