"""Territory layers: communes, cantons, EPCI, département outline and population surface.

This sub-package knows nothing of routing.
"""

from coverage.layers.config import LayerSpec, TerritoryConfig, load_territory_config
from coverage.layers.territory import Territory, load_territory

__all__ = ["LayerSpec", "Territory", "TerritoryConfig", "load_territory", "load_territory_config"]
