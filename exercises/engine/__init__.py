"""The exercise engine: what every exercise shares, whatever its type.

- ``policy``: due dates (with a student's extension), attempts left, retry and late penalties;
- ``visibility``: THE rule of what a viewer may see of a grade (release dates, the private split);
- ``variants``: each student's deterministic variant;
- ``services`` / ``selectors``: recording and regrading attempts, the rows of a course;
- ``views`` / ``api``: the pages and endpoints of the instant types, ``my results``;
- ``responses``: private pictures and the form posts of the exercise pages.
"""
