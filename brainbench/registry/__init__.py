"""Manifests, their validation, discovery through entry points, and lazy loading."""

from brainbench.registry.registry import Registry, get_registry, load_object

__all__ = ["Registry", "get_registry", "load_object"]
