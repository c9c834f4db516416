"""User-facing errors: the CLI prints their message as one line and exits with code 2."""


class BenchError(Exception):
    """A problem the user can fix (bad name, bad value, missing asset). Never a bug in the suite."""


class UnknownNameError(BenchError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


class AssetError(BenchError):
    """An external asset (model, dataset, synonym set, WordNet) could not be found anywhere."""


class ConfigError(BenchError, ValueError):
    """A bad configuration value (scale field, override, grid file)."""


class CorruptAssetError(AssetError):
    """An asset that exists but cannot be used (unreadable, not valid JSON, a bad row): never replaced by
    another source; the message names the file (and line)."""
