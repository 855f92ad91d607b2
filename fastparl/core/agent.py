"""``fastparl.Agent``: PARL's ``parl.Agent`` for the paddle backend."""

from __future__ import annotations

import os
from typing import Any

from fastparl.core._paddle import import_paddle
from fastparl.core.algorithm import Algorithm
from fastparl.core.model import Model

paddle = import_paddle()

__all__ = ["Agent"]


class Agent:
    """Moves data between the environment (numpy) and an :class:`~fastparl.Algorithm`.

    Subclasses implement ``predict`` (greedy, for evaluation), ``sample`` (exploratory, for
    training) and ``learn`` (numpy batch -> tensors -> ``self.alg.learn``), as in PARL.

    Attributes:
        alg: the algorithm of this agent.
        training: ``True`` in training mode (the default), ``False`` after :meth:`eval`.

    Example:
        >>> class MyAgent(parl.Agent):
        ...     def __init__(self, algorithm, act_dim):
        ...         super().__init__(algorithm)
        ...         self.act_dim = act_dim
    """

    def __init__(self, algorithm: Algorithm) -> None:
        """Args:
            algorithm: an instance of :class:`fastparl.Algorithm`, kept as ``self.alg``.

        Raises:
            TypeError: if ``algorithm`` is not a :class:`fastparl.Algorithm`.
        """
        if not isinstance(algorithm, Algorithm):
            raise TypeError(
                f"{type(self).__name__} needs a parl.Algorithm, got {type(algorithm).__name__}; "
                f"e.g. {type(self).__name__}(parl.algorithms.DQN(model, gamma=0.99, lr=1e-3))"
            )
        self.alg = algorithm
        self.training = True

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        """Update the algorithm with a numpy batch."""
        raise NotImplementedError(f"{type(self).__name__}.learn is not implemented")

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Return the greedy action for an observation."""
        raise NotImplementedError(f"{type(self).__name__}.predict is not implemented")

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        """Return an exploratory action for an observation."""
        raise NotImplementedError(f"{type(self).__name__}.sample is not implemented")

    def get_weights(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return the algorithm's weights (dict name -> numpy array)."""
        return self.alg.get_weights(*args, **kwargs)

    def set_weights(self, weights: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        """Copy weights from :meth:`get_weights` into the algorithm's model."""
        self.alg.set_weights(weights, *args, **kwargs)

    def _model(self, model: Model | None) -> Model:
        if model is None:
            model = getattr(self.alg, "model", None)
        if not isinstance(model, paddle.nn.Layer):
            raise TypeError(f"expected a parl.Model (or paddle.nn.Layer), got {type(model).__name__}")
        return model

    def save(self, save_path: str, model: Model | None = None) -> None:
        """Save the parameters of ``model`` (default ``self.alg.model``) to ``save_path``.

        Args:
            save_path: file to write (``paddle.save`` format); parent folders are created.
            model: the model to save; ``None`` means ``self.alg.model``.
        """
        model = self._model(model)
        parent = os.path.dirname(os.path.abspath(save_path))
        os.makedirs(parent, exist_ok=True)
        paddle.save(model.state_dict(), save_path)

    def restore(self, save_path: str, model: Model | None = None) -> None:
        """Load parameters saved by :meth:`save` into ``model`` (default ``self.alg.model``).

        Args:
            save_path: file written by :meth:`save`.
            model: the model to load into; ``None`` means ``self.alg.model``.

        Raises:
            FileNotFoundError: if ``save_path`` does not exist.
            KeyError, ValueError: if the saved parameters do not match the model.
        """
        model = self._model(model)
        if not os.path.exists(save_path):
            raise FileNotFoundError(f"restore: no saved parameters at {save_path!r}; call agent.save() first")
        state = paddle.load(save_path, return_numpy=True)
        if isinstance(model, Model):
            model.set_weights(state)
        else:
            model.set_state_dict(state)

    def save_inference_model(
        self,
        save_path: str,
        input_shape_list: list[list[int | None]],
        input_dtype_list: list[str],
        model: Model | None = None,
    ) -> None:
        """Save ``model.forward`` as a static inference model with ``paddle.jit.save``.

        Args:
            save_path: path prefix of the saved files.
            input_shape_list: shape of each input of ``forward``, e.g. ``[[None, 4]]``.
            input_dtype_list: dtype of each input, e.g. ``["float32"]``.
            model: the model to save; ``None`` means ``self.alg.model``.

        Raises:
            TypeError: if the lists are not lists.
            ValueError: if they differ in length.
        """
        model = self._model(model)
        if not isinstance(input_shape_list, list) or not isinstance(input_dtype_list, list):
            raise TypeError("input_shape_list and input_dtype_list must be lists, e.g. [[None, 4]], ['float32']")
        if len(input_shape_list) != len(input_dtype_list):
            raise ValueError(
                f"input_shape_list has {len(input_shape_list)} entries but input_dtype_list has "
                f"{len(input_dtype_list)}; give one dtype per input"
            )
        specs = [
            paddle.static.InputSpec(shape=shape, dtype=dtype)
            for shape, dtype in zip(input_shape_list, input_dtype_list, strict=True)
        ]
        paddle.jit.save(model, save_path, specs)

    def train(self) -> None:
        """Set the agent (and ``self.alg.model``) to training mode, the default."""
        self.alg.model.train()
        self.training = True

    def eval(self) -> None:
        """Set the agent (and ``self.alg.model``) to evaluation mode."""
        self.alg.model.eval()
        self.training = False
