"""Data layer: assemblies, stimulus sets, remote files and bring-your-own-data helpers."""
