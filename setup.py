"""The optional C extension; everything else is declared in pyproject.toml.

``optional=True``: where it cannot be compiled (no compiler, no Python headers) the install
goes on with a warning and the package runs its pure-Python code, which gives the same rows.
"""

from setuptools import Extension, setup

SOURCES = ("module", "record", "capture", "stage", "joiner")  # openfeature_s3_export/_c/, one job each

setup(
    ext_modules=[
        Extension(
            "openfeature_s3_export._speedups",
            [f"openfeature_s3_export/_c/{name}.c" for name in SOURCES],
            depends=["openfeature_s3_export/_c/speedups.h"],
            optional=True,
        )
    ]
)
