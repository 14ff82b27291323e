"""Short names for profiled points, shared by the table and the HTML report.

``b2 c4`` is batch 2, concurrency 4; ``r32`` a request rate of 32 requests/s instead of a
concurrency; ``i2`` two instances; ``dyn100us`` the dynamic batcher on with a 100 us max queue delay
(a config search's variant); a config variant follows without its model's name prefix
(``config_3`` for Model Analyzer's ``add_sub_config_3``).
"""

from __future__ import annotations

from profiler import GROUP_SEPARATOR, ProfilePoint


def variant_label(point: ProfilePoint) -> str:
    """The point's config variant without the model name prefix, ``""`` for none."""
    if not point.variant:
        return ""
    models = point.model.split(GROUP_SEPARATOR)
    variants = point.variant.split(GROUP_SEPARATOR)
    if len(models) != len(variants):
        return point.variant
    short = [v.removeprefix(f"{m}_") for m, v in zip(models, variants, strict=True)]
    return GROUP_SEPARATOR.join(short)


def load_label(point: ProfilePoint) -> str:
    """``b2 c4``, ``b2 r32`` (request rate), `` i2`` for two or more instances, `` dyn100us`` a batcher."""
    load = f"r{point.request_rate:g}" if point.request_rate is not None else f"c{point.concurrency}"
    instances = f" i{point.instance_count}" if point.instance_count > 1 else ""
    batcher = f" dyn{point.max_queue_delay_us or 0}us" if point.dynamic_batching else ""
    return f"b{point.batch_size} {load}{instances}{batcher}"


def point_label(point: ProfilePoint) -> str:
    """``b2 c4``, with the variant first where there is one: ``config_3 b2 c4 i2``."""
    variant = variant_label(point)
    return f"{variant} {load_label(point)}" if variant else load_label(point)
