"""Exit 1 naming what `make test-python` needs and this Python lacks."""

import importlib
import sys

missing = []
for module, package in [("pyarrow.flight", "pyarrow (with Flight)"), ("pyarrow.parquet", "pyarrow (with Parquet)"),
                        ("torch", "torch"), ("pytest", "pytest")]:
    try:
        importlib.import_module(module)
    except ImportError as e:
        missing.append("%s (%s)" % (package, e))
if missing:
    print("make test-python: %s lacks %s.\n"
          "Install them (pip install pyarrow torch pytest) or point PYTHON at a Python that has them;\n"
          "`make test` does not need them." % (sys.executable, ", ".join(missing)), file=sys.stderr)
    sys.exit(1)
