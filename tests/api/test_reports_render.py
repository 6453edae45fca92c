"""The demo report opens in a real spreadsheet program: LibreOffice, headless, renders it to PDF (slow)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def test_libreoffice_renders_the_demo_report(api: tuple[TestClient, dict[str, dict[str, str]]], tmp_path: Path) -> None:
    client, headers = api
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is needed for this check: apt-get install libreoffice-calc-nogui"
    response = client.get("/api/v1/reports/quarterly/2027Q2.xlsx", headers=headers["staff"])
    assert response.status_code == 200
    source = tmp_path / "report.xlsx"
    source.write_bytes(response.content)
    profile = (tmp_path / "profile").as_uri()
    done = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    pdf = tmp_path / "report.pdf"
    assert done.returncode == 0 and pdf.exists(), done.stdout + done.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages >= 5, f"{pages} page(s): every sheet should be rendered"
