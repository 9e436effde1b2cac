"""Benchmarks: each script prints ratios against a baseline measured in the same run;
``python -m benchmarks`` runs those with a target and prints one table (see __main__)."""
