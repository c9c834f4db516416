"""The core: what a cell is made of and how one model is trained and attacked.

Assets, data, models and the victim; configuration, records and the results store; the method and attack
interfaces with their registry; ASCC, training, metrics and similarity. Nothing here imports :mod:`bench.run`,
:mod:`bench.report`, the CLI, or a method or attack (those register themselves through :mod:`bench.core.registry`).
"""
