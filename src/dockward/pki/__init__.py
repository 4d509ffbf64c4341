"""The certificate authority and the files it keeps: ``ca`` (profiles, keys, PEM files) and
``state`` (the state-directory layout and first-run bootstrap)."""
