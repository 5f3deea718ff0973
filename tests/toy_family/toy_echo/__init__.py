"""toy_echo API family."""
from .family import FAMILY

__all__ = ["FAMILY"]
