"""Adapters that run other tools on the suite's shared features, responses and splits.

Each adapter returns pooled out-of-fold predictions ``(n, N)``; the suite computes every
metric itself with brainbench's metric functions so that only the fitting differs.
"""
