"""scanner: static analysis and policy scanner for repositories and manifests."""

__version__ = "0.1.0"
