from tests.sales.conftest import desk

__all__ = ["desk"]
