"""Fine-tuning methods: one module each, found by ``bench.core.registry.METHODS`` (every module of this package is
imported on first use; a module registers its method with ``@METHODS.register``)."""
