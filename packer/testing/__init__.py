"""Seeded fleets and packing instances shared by tests and benchmarks/; the planner never imports them."""
