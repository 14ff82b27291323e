"""Integer bin-packing engines: items with integer sizes into the fewest identical bins.

They know nothing of models or GPUs: ``engines.pack`` is the entry the planner calls for the plain
problem (one resource: ``one_dimension``; several: ``vector_engine``, then ``assignment.level`` for
the headroom stage). The two engines share their core and differ where the math does: one item
grouping (``item_types``), greedy rules (``greedy``), pattern LP (``patterns``), dive (``diving``),
column IP (``pattern_ip.column_ip``) and "items into K bins" CP-SAT model (``fixed_bins``); the
pricing (``knapsack_pricing`` / ``vector_pricing``), bounds and local searches are their own.
Every step ends by one deadline on the work clock (``packer.work``), not the wall clock.
"""
