"""Run the Khronos glTF validator (tools/gltf/validate.mjs, Node) on a texgs .glb and judge it.

    python tools/gltf/khronos_validate.py OUT.glb      # prints the issues, exit 1 if not clean

A texgs output must have no errors. The only warnings allowed are the two the validator gives
for an image holding a texgs asset (media type ``application/x-texgs``), and only at that
image's JSON pointer: ``VALUE_NOT_IN_LIST`` at ``/images/N/mimeType`` and
``IMAGE_UNRECOGNIZED_FORMAT`` at ``/images/N``. Needs ``npm ci`` in tools/gltf.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
TGS_MIME_TYPE = "application/x-texgs"
SEVERITY_ERROR = 0
SEVERITY_WARNING = 1


class ValidatorUnavailable(RuntimeError):
    """Node or the installed validator (tools/gltf/node_modules) is missing."""


def validator_available() -> bool:
    """Whether node is on PATH and ``npm ci`` has installed gltf-validator."""
    return shutil.which("node") is not None and \
        (TOOLS / "node_modules" / "gltf-validator").is_dir()


def validate(path: str | Path) -> dict:
    """The validator's report for ``path`` (the JSON validate.mjs prints)."""
    node = shutil.which("node")
    if node is None:
        raise ValidatorUnavailable("node is not installed")
    if not (TOOLS / "node_modules" / "gltf-validator").is_dir():
        raise ValidatorUnavailable(f"run `npm ci` in {TOOLS}")
    proc = subprocess.run([node, str(TOOLS / "validate.mjs"), str(path)], capture_output=True,
                          text=True, cwd=TOOLS, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"validate.mjs failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def tgs_image_pointers(path: str | Path) -> set[str]:
    """JSON pointers of the images of a .glb/.gltf whose mimeType is the texgs one."""
    import struct

    data = Path(path).read_bytes()
    if data[:4] == b"glTF":
        length, _ = struct.unpack_from("<II", data, 12)
        js = json.loads(data[20:20 + length])
    else:
        js = json.loads(data)
    return {f"/images/{i}" for i, img in enumerate(js.get("images", []))
            if img.get("mimeType") == TGS_MIME_TYPE}


def allowed(issue: dict, tgs_images: set[str]) -> bool:
    """Whether a warning is one of the two expected for a texgs image, at that image."""
    if issue["code"] == "VALUE_NOT_IN_LIST":
        return issue.get("pointer", "").removesuffix("/mimeType") in tgs_images and \
            issue.get("pointer", "").endswith("/mimeType")
    if issue["code"] == "IMAGE_UNRECOGNIZED_FORMAT":
        return issue.get("pointer") in tgs_images
    return False


def disallowed_issues(report: dict, tgs_images: set[str]) -> list[dict]:
    """Every error, and every warning that is not allowed (see the module docstring)."""
    out = []
    for issue in report["issues"]["messages"]:
        if issue["severity"] == SEVERITY_ERROR:
            out.append(issue)
        elif issue["severity"] == SEVERITY_WARNING and not allowed(issue, tgs_images):
            out.append(issue)
    return out


def check(path: str | Path) -> tuple[dict, list[dict]]:
    """(report, disallowed issues) of ``path``."""
    report = validate(path)
    return report, disallowed_issues(report, tgs_image_pointers(path))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tools/gltf/khronos_validate.py FILE.glb", file=sys.stderr)
        return 2
    report, bad = check(argv[1])
    issues = report["issues"]
    print(f"{argv[1]}: {issues['numErrors']} errors, {issues['numWarnings']} warnings, "
          f"{issues['numInfos']} infos, {issues['numHints']} hints; "
          f"{len(bad)} not allowed")
    for issue in issues["messages"]:
        print(f"  [{issue['severity']}] {issue['code']} {issue.get('pointer', '')}: "
              f"{issue['message']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
