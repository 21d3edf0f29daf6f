"""A local Kubernetes API stand-in for the real kubectl and helm (see README.md)."""
