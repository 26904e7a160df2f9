"""explore.ipynb as a person uses it: a real JupyterLab server, the notebook opened in headless Chromium, every
cell run from the Run menu's command; then the saved notebook has no error and no warning (the tqdm
"IProgress not found" box), and the what-if widgets are on the page."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser import browser_page

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "acrlib-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port, rooted in a folder with a copy of explore.ipynb on the emulator."""
    node = nbformat.read(ROOT / "notebooks" / "explore.ipynb", as_version=4)
    params = next(c for c in node.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('source = "azure"', 'source = "emulator:tiny"')
    assert 'source = "emulator:tiny"' in params.source
    nbformat.write(node, tmp_path / "explore.ipynb")
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=0", "--allow-root"],  # CI containers run as root
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "server.log").open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "server.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield base, tmp_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


RUN_ALL_AND_SAVE = """async () => {
  const app = window.jupyterapp;
  await app.commands.execute('notebook:run-all-cells');
  const panel = app.shell.currentWidget;
  const session = panel.sessionContext;
  const deadline = Date.now() + 400000;
  // done when no cell waits to run and the kernel stays idle (JupyterLab stops at a cell that raises)
  let quiet = 0;
  while (Date.now() < deadline && quiet < 4) {
    const cells = panel.content.widgets.filter(c => c.model.type === 'code');
    const pending = cells.some(c => c.promptNode.textContent.indexOf('*') >= 0);
    const idle = session.session && session.session.kernel.status === 'idle';
    quiet = !pending && idle ? quiet + 1 : 0;
    await new Promise(r => setTimeout(r, 500));
  }
  await app.commands.execute('docmanager:save');
  return panel.content.widgets.filter(c => c.model.type === 'code').map(c => c.model.executionCount);
}"""


@pytest.mark.browser
@pytest.mark.slow
def test_explore_runs_in_jupyterlab_without_errors_or_warnings(lab):
    base, folder = lab
    with browser_page(1280, 900, allow=(base,)) as visit:
        page = visit.page
        page.goto(f"{base}/lab/tree/explore.ipynb?token={TOKEN}", timeout=120_000)
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                               "window.jupyterapp.shell.currentWidget.sessionContext && "
                               "window.jupyterapp.shell.currentWidget.sessionContext.session && "
                               "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel", timeout=120_000)
        page.wait_for_function("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status "
                               "=== 'idle'", timeout=120_000)
        counts = page.evaluate(RUN_ALL_AND_SAVE)
        saved = nbformat.read(folder / "explore.ipynb", as_version=4)
        outputs = [o for c in saved.cells for o in c.get("outputs", [])]
        errors = [o for o in outputs if o.output_type == "error"]
        stderr = [o for o in outputs if o.get("name") == "stderr"]
        assert errors == [], json.dumps(errors)[:2000]
        assert stderr == [], json.dumps(stderr)[:2000]
        assert counts and None not in counts, counts
        page.wait_for_selector(".widget-slider", timeout=30_000)
        sliders = page.locator(".widget-slider").count()
        shown = page.locator(".jp-OutputArea-output").all_text_contents()
    assert sliders >= 2, "the what-if panel's sliders render"
    assert not any("IProgress" in text or "TqdmWarning" in text for text in shown)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert not [e for e in visit.errors if "acrlib" in e or "Error" in e], visit.errors
