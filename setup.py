"""Build the optional C extension; everything else is configured in pyproject.toml.

The extension is optional: without a working C compiler the build prints a
warning and the package installs with its pure-Python scoring path.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        # Scores must equal numpy's bit for bit: no fused multiply-add, no fast math.
        if self.compiler.compiler_type == "msvc":
            flags = ["/O2", "/fp:precise"]
        else:
            flags = ["-O2", "-ffp-contract=off", "-fno-fast-math"]
        for ext in self.extensions:
            ext.extra_compile_args = flags + list(ext.extra_compile_args or [])
        super().build_extensions()


setup(
    ext_modules=[Extension("searchsafe._speedups", ["searchsafe/_speedups.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
