"""Framework glue: Flask, FastAPI/Starlette, Django, Celery and AWS Lambda.

Import the module for your framework, never this package's contents directly; each module
imports its framework and says which extra to install when it is missing::

    from openfeature_s3_export.integrations.flask import S3Export            # [flask]
    from openfeature_s3_export.integrations.fastapi import S3Export          # [fastapi]
    INSTALLED_APPS = [..., "openfeature_s3_export.integrations.django"]     # [django]
    from openfeature_s3_export.integrations.celery import setup_celery      # [celery]
    from openfeature_s3_export.integrations.aws_lambda import flush_after   # no extra

Nothing here is imported by :mod:`openfeature_s3_export` or by the hook: the evaluation path
never pays for a framework.  See ``docs/integrations.md``.

.. versionadded:: 0.2.0
"""
