"""Benchmarks: each module prints its figures and ratios; `make bench` runs them all."""
