"""Fine-tuning methods. Importing this package registers every method in ``bench.registry.METHODS``."""

from methods import standard  # noqa: F401
