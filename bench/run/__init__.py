"""Orchestration: grids of cells, running them (runner, executors, scheduler), their status and time estimates,
and the regression guard. Reaches methods and attacks only through :mod:`bench.core.registry`.
"""
