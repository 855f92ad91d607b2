"""PARL's ``parl.utils.globvars``: ``global_config``, a namespace for settings shared across modules."""

from __future__ import annotations

import argparse
import types

from fastparl.utils import logger

__all__ = ["GlobalConfig", "global_config"]


class GlobalConfig(types.SimpleNamespace):
    """A namespace for global settings.

    Example::

        from parl.utils import global_config as config
        config.batch_size = 18
        config.load_argument(parser.parse_args())
    """

    def load_argument(self, args: argparse.Namespace) -> None:
        """Copy every attribute of ``args`` into this namespace (warning for each one overwritten).

        Raises:
            TypeError: if ``args`` is not an ``argparse.Namespace``.
        """
        if not isinstance(args, argparse.Namespace):
            raise TypeError(f"load_argument expects an argparse.Namespace (parser.parse_args()), got {type(args)}")
        for k, v in vars(args).items():
            if hasattr(self, k):
                logger.warning(f"Attribute {k} in global_config will be overwritten!")
            setattr(self, k, v)


global_config = GlobalConfig()
