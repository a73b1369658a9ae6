"""Stride's exercises: one Django app (label ``exercises``), one subpackage per feature.

- ``types``: one module per exercise type; each declares how it is graded (instant | upload |
  generation). Plain Python, no Django.
- ``engine``: what every exercise shares: the policy, THE visibility rule (``engine.visibility``),
  variants, attempts, the instant pages and API.
- ``jobs``: what worker-graded rows share (task names, sending, claims, the sweeper).
- ``submissions``: Keras model uploads, graded by a worker in a sandbox.
- ``lab``: the diffusion lab, generations batched by a worker.
- ``authoring``: the exercise form, course folders and zips, GIFT import.
- ``grading``: the three kinds wired to the subpackages (the exercise page, regrade);
  ``urls`` / ``api``: the subpackages' URLs and routers, under the names they always had.

Dependencies run one way (``types ← engine ← jobs ← {submissions, lab, authoring} ← grading``),
and never into ``workers``: the import-linter contracts of ``pyproject.toml`` check it.
"""
