"""torch.nn.utils: gradient clipping, parameter <-> vector conversion, Conv/Linear + BatchNorm
fusion, weight and spectral normalisation, and the packed-sequence helpers of ``rnn``."""
from . import rnn
