"""gymnasium helpers and vectorised environments (in-process or over actors with shared memory)."""

from fastparl.env.spaces import GymAdapter, action_dtype, check_spaces
from fastparl.env.vector import RemoteVectorEnv, VectorEnv, make_vector_env

__all__ = ["GymAdapter", "RemoteVectorEnv", "VectorEnv", "action_dtype", "check_spaces", "make_vector_env"]
