"""TLS for the gateway: the server context and a sans-IO record layer over memory BIOs."""
