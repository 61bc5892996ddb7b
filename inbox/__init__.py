"""A unified multichannel chat inbox."""

__version__ = "0.1.0"
