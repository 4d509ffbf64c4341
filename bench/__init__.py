"""Benchmarks: dockward against the direct unix socket and dockerd's native TLS (`make bench`)."""
