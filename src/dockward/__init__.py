"""dockward: the secure front door of a Docker host (mutual-TLS gateway, policy, CA, scanner)."""

__version__ = "0.1.0"
