"""A PEP 517 build backend for strata_data that uses only the standard
library: a wheel is a zip of the package plus its dist-info (PEP 427), an
sdist a tar.gz of the sources with PKG-INFO, and an editable install a .pth
file pointing at the source tree (PEP 660)."""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "strata_data"
TAG = "py3-none-any"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    try:
        import tomllib  # Python 3.11+

        p = tomllib.loads(raw.decode())["project"]
        return p["name"], p["version"], p.get("description", ""), p.get("requires-python", ""), p.get("dependencies", [])
    except ImportError:
        text = raw.decode()
        get = lambda k: re.search(r'^%s\s*=\s*"([^"]*)"' % k, text, re.M).group(1)
        deps = re.findall(r'"([^"]+)"', re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1))
        return get("name"), get("version"), get("description"), get("requires-python"), deps


def _metadata():
    name, version, summary, python, deps = _project()
    lines = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version, "Summary: " + summary]
    if python:
        lines.append("Requires-Python: " + python)
    lines += ["Requires-Dist: " + d for d in deps]
    return name, version, "\n".join(lines) + "\n"


def _dist(name, version):
    return re.sub(r"[-_.]+", "_", name), version


def _sources():
    base = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                full = os.path.join(dirpath, fn)
                yield full, os.path.relpath(full, ROOT).replace(os.sep, "/")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _wheel(wheel_directory, files):
    name, version, metadata = _metadata()
    dist, version = _dist(name, version)
    info = "%s-%s.dist-info" % (dist, version)
    files = list(files) + [
        (info + "/METADATA", metadata.encode()),
        (info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: strata_build\nRoot-Is-Purelib: true\nTag: %s\n" % TAG).encode()),
    ]
    filename = "%s-%s-%s.whl" % (dist, version, TAG)
    record = [_record_line(a, d) for a, d in files] + [info + "/RECORD,,"]
    files.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(arcname, data)
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_sdist = get_requires_for_build_wheel
get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for full, arcname in _sources():
        with open(full, "rb") as f:
            files.append((arcname, f.read()))
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [("%s.pth" % PACKAGE, (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    dist, version = _dist(name, version)
    base = "%s-%s" % (dist, version)
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as t:
        extra = ["pyproject.toml", "_build/strata_build.py"]
        for rel in extra + [a for _, a in _sources()]:
            t.add(os.path.join(ROOT, rel), arcname=base + "/" + rel)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = metadata.encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return filename
