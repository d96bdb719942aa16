"""Only the native part of the build; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # The BAL reader's cell splitter: optional, the pure-Python path gives the same result
        # where no C compiler is at hand (only slower).
        Extension(
            "guichet.bal._cells",
            sources=["src/guichet/bal/_cells.c"],
            optional=True,
            extra_compile_args=["-O3"],
        )
    ]
)
