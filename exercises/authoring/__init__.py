"""Authoring (admins): forms generated from each type's schema, course folders and zips, GIFT import.

- ``forms``: the exercise form; ``course_files``: a course as a YAML folder (load, export, validate);
- ``gift``: Moodle GIFT quizzes into exercises; ``views`` / ``urls``: the authoring pages.
"""
