"""The gateway: listeners, client connections and the relay to the Docker socket."""
