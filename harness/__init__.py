"""dipcert: certification test harness for the extended MDR/SDS flows on Elexon's DIP."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dipcert")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
