"""Fine-tuning methods. Importing this package registers every method in ``bench.registry.METHODS``."""

from methods import standard  # noqa: F401
from methods import adv_base, adv_ptwd, adv_mixout, rift  # noqa: F401
from methods import freelb, infobert  # noqa: F401  (beyond the paper: TextDefender's strongest defences)
