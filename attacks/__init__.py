"""Attack recipes: one module each, found by ``bench.core.registry.ATTACKS`` (every module of this package is
imported on first use; a module registers its recipe with ``@ATTACKS.register``). Shared search code: ``engine``."""
