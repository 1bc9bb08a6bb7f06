"""pyensign_fast: a fast, drop-in replacement for pyensign."""
from pyensign_fast._core import __version__
