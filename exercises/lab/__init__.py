"""The diffusion lab: students' text-to-image generations, run in batches by a worker.

- ``services``: check and queue a request, the batched run (on the worker), sweep, regrade;
- ``selectors``: a generation for its owner or teacher, the queue position, the galleries;
- ``views`` / ``api``: the lab, the graded diffusion exercises, the teacher's gallery, pictures.
"""
