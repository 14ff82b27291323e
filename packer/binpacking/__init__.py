"""Integer bin-packing engines: vector patterns, pricing, diving and search over integer demands."""
