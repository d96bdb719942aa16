"""Vendor the web console's front-end assets from the npm registry (no CDN at run time).

    python scripts/vendor_console_assets.py            # fetch the pinned versions, copy, record

What is copied, and only that (the console works offline, the repository stays small):

    src/guichet/console/static/vendor/dsfr/    @gouvfr/dsfr: dsfr.min.css, every font and icon
                                               that stylesheet refers to, the JS module (every
                                               browser the DSFR supports loads modules), the
                                               favicons
    src/guichet/console/static/vendor/htmx/    htmx.org: htmx.min.js
    src/guichet/console/static/vendor/dsfr-chart/
                                               @gouvfr/dsfr-chart: the ES module with every
                                               chart (web components; one Vue runtime for
                                               all) and its stylesheet, for the operators'
                                               statistics page only
    tests/console/vendor/                      axe-core: axe.min.js (browser tests only)

Each destination gets a `VENDORED.json` (package, version, licence, tarball integrity, files)
and a `VENDORED.md` saying the same for people. Bump a version here, run the script, commit.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "src" / "guichet" / "console" / "static" / "vendor"
TESTS = ROOT / "tests" / "console" / "vendor"

DSFR_VERSION = "1.15.3"
# htmx 2: the series the console is written against (4.x changed attribute inheritance).
HTMX_VERSION = "2.0.8"
AXE_VERSION = "4.14.1"
DSFR_CHART_VERSION = "2.0.4"

# url(...) references of a stylesheet, data: URIs excluded.
_CSS_URL = re.compile(r"url\((?!data:)['\"]?([^'\")]+)['\"]?\)")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    licence: str
    integrity: str
    root: Path  # the unpacked tarball's `package/` directory


def npm_pack(name: str, version: str, workdir: Path) -> Package:
    """`npm pack name@version` into `workdir`, unpacked; the registry's own metadata kept."""
    spec = f"{name}@{version}"
    done = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(done.stdout)[0]
    target = workdir / info["filename"].removesuffix(".tgz")
    with tarfile.open(workdir / info["filename"]) as archive:
        archive.extractall(target, filter="data")
    root = target / "package"
    manifest = json.loads((root / "package.json").read_text())
    return Package(name, version, manifest.get("license", "?"), info["integrity"], root)


def copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)


def css_references(stylesheet: Path) -> list[str]:
    """The relative files a stylesheet loads (fonts, icons), each once, in a stable order."""
    found = {ref.split("#")[0].split("?")[0] for ref in _CSS_URL.findall(stylesheet.read_text())}
    return sorted(ref for ref in found if ref and not ref.startswith(("http:", "https:", "/")))


def vendor_dsfr(package: Package, destination: Path) -> list[str]:
    dist = package.root / "dist"
    files = ["dsfr.min.css", "dsfr.module.min.js"]
    files += css_references(dist / "dsfr.min.css")
    files += [f"favicon/{name}" for name in ("favicon.svg", "favicon.ico", "apple-touch-icon.png")]
    for name in files:
        copy(dist / name, destination / name)
    copy(package.root / "LICENSE.md", destination / "LICENSE.md")
    return files


def vendor_dsfr_chart(package: Package, destination: Path) -> list[str]:
    """The whole library in one module: the statistics page uses two kinds of chart, and one
    file per kind would load Vue's runtime once per kind (the package's README advice)."""
    files = ["DSFRChart.js", "DSFRChart.css"]
    for name in files:
        copy(package.root / "dist" / "DSFRChart" / name, destination / name)
    copy(package.root / "LICENSE", destination / "LICENSE")
    return files


def vendor_single(package: Package, source: str, destination: Path, name: str) -> list[str]:
    copy(package.root / source, destination / name)
    for licence in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        if (package.root / licence).exists():
            copy(package.root / licence, destination / "LICENSE")
            break
    return [name]


def record(destination: Path, package: Package, files: list[str], purpose: str) -> None:
    """VENDORED.json (read by the console for its cache-busting token) and VENDORED.md."""
    entry = {
        "package": package.name,
        "version": package.version,
        "licence": package.licence,
        "integrity": package.integrity,
        "files": files,
    }
    (destination / "VENDORED.json").write_text(json.dumps(entry, indent=2) + "\n")
    size = sum((destination / name).stat().st_size for name in files)
    (destination / "VENDORED.md").write_text(
        f"# {package.name} {package.version}\n\n"
        f"{purpose}\n\n"
        f"- licence: {package.licence} (text beside this file)\n"
        f"- tarball integrity: `{package.integrity}`\n"
        f"- {len(files)} files, {size / 1024:.0f} KiB, copied by "
        "`scripts/vendor_console_assets.py` (do not edit by hand)\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    if shutil.which("npm") is None:
        print("npm is needed (Debian: apt-get install npm)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="guichet-vendor-") as tmp:
        work = Path(tmp)
        jobs = [
            ("@gouvfr/dsfr", DSFR_VERSION, STATIC / "dsfr", "The French State design system."),
            ("htmx.org", HTMX_VERSION, STATIC / "htmx", "Partial page updates."),
            (
                "@gouvfr/dsfr-chart",
                DSFR_CHART_VERSION,
                STATIC / "dsfr-chart",
                "The design system's charts (operators' statistics page).",
            ),
            ("axe-core", AXE_VERSION, TESTS, "Accessibility checks of the browser tests."),
        ]
        for name, version, destination, purpose in jobs:
            package = npm_pack(name, version, work)
            shutil.rmtree(destination, ignore_errors=True)
            if name == "@gouvfr/dsfr":
                files = vendor_dsfr(package, destination)
            elif name == "@gouvfr/dsfr-chart":
                files = vendor_dsfr_chart(package, destination)
            elif name == "htmx.org":
                files = vendor_single(package, "dist/htmx.min.js", destination, "htmx.min.js")
            else:
                files = vendor_single(package, "axe.min.js", destination, "axe.min.js")
            record(destination, package, files, purpose)
            print(f"{name}@{version}: {len(files)} files → {destination.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
