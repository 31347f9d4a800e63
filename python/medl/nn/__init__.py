"""Pure torch networks and their losses; no data handling or training loops here."""

from .autoencoder import TiedAutoencoder
from .fixed import FixedEffectsNet
from .mixed import MixedEffectsVAE
from .random import RandomEffectsNet

__all__ = ["FixedEffectsNet", "MixedEffectsVAE", "RandomEffectsNet", "TiedAutoencoder"]
