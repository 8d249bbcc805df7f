"""A minimal Django project: one app whose home page comes from a flag."""
