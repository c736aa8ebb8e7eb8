"""`make bench`: each bench_*.py module measures one thing and reports rows for one markdown table."""
