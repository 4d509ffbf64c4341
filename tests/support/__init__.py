"""Test support: a private dockerd, locally built images and polling helpers."""
