"""Packaged data: catalog tables, perf calibration, the embedded default scenario."""
