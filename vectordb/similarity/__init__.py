"""The bulk similarity array of the paper: for each object its most similar others within a magnitude window."""
