"""Model submissions: a student uploads a trained Keras model, a worker grades it in a sandbox.

- ``datasets``: the downloadable training set and the hidden test set (the teacher's or generated);
- ``services``: create (intake checks at once), enqueue, grade (on the worker), sweep, regrade;
- ``selectors``: a submission for its owner or teacher, the queue position, the leaderboard;
- ``notebooks``: the starter notebook; ``views`` / ``api``: pages and endpoints.
"""
