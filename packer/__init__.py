"""Deciding half of gpupack: from profiles to a placement of models on GPUs, proven where it can be.

Profile (``profiler``) → ``service.PlanRequest`` → ``problem.Problem`` → ``planner.plan`` (the plain
problem to ``binpacking``, any other to ``choice``) → ``plan.Plan``, re-verified by ``check`` →
``report`` (table) and ``deploy`` (repositories).
"""
