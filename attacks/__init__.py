"""Attack recipes. Importing this package registers every recipe in ``bench.registry.ATTACKS``."""

from attacks import pwws  # noqa: F401
from attacks import genetic  # noqa: F401
from attacks import deepwordbug  # noqa: F401
from attacks import pwws_wordnet  # noqa: F401
from attacks import addsent  # noqa: F401
from attacks import interop  # noqa: F401  (ta:* / oa:* where TextAttack / OpenAttack are installed)
from attacks import ascc  # noqa: F401
from attacks import textfooler  # noqa: F401  (beyond the paper)
