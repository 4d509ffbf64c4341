"""Policy: route classification, identities and decisions. Pure functions, no sockets."""
