"""GPU slices (MIG) as bins: the products' profiles and placement rules, layouts, and their planner."""
