"""Integer bin-packing engines: items with integer sizes into the fewest identical bins.

They know nothing of models or GPUs: ``engines.pack`` is the entry the planner calls for the plain
problem (one resource: ``one_dimension``; several: ``vector_engine``, then ``assignment.level`` for
the headroom stage).
"""
