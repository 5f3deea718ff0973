"""databricks_invocations API family."""
from .family import FAMILY

__all__ = ["FAMILY"]
