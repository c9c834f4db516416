"""Attack recipes. Importing this package registers every recipe in ``bench.registry.ATTACKS``."""

from attacks import pwws  # noqa: F401
