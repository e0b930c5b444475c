"""Benchmark harness (issue 8): the gateway against nginx, a direct call and a naive proxy."""
