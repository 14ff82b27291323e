"""The multiple-choice planner: candidate points, replicas, GPU types, rules and budgets in CP-SAT."""
