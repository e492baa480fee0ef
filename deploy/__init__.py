"""Deployment: templates, images, units and the local lab (deploy/local/), importable from the repository root."""
