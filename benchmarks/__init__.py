"""Benchmarks: loopback only, bounded loops, ratios against a baseline measured in the same run."""
