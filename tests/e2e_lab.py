"""End-to-end check in a real browser: JupyterLab opens notebook 02, runs all cells, the alpha explorer's epoch
slider moves and the heatmap changes; a screenshot is saved.  ``make e2e`` runs it (CI too).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (``make e2e`` installs them).

    .venv/bin/python tests/e2e_lab.py --run-dir results/search-cpu --screenshot docs/lab-explorer.png
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import nbformat
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from lab_server import ROOT, jupyter_lab


def prepared_notebook(run_dir: str) -> Path:
    """Notebook 02 with its parameters set (as papermill would), saved under runs/e2e/ for the browser."""
    nb = load_notebook_node(str(ROOT / "notebooks" / "02_alpha.ipynb"))
    nb = parameterize_notebook(nb, {"run_dir": run_dir, "figures_dir": "runs/e2e/figures"})
    out = ROOT / "runs" / "e2e" / "02_alpha.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def wait_for(find, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            found = find()
            if found:
                return found
        except Exception:  # noqa: BLE001 - the page is still building
            pass
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="results/search-cpu")
    p.add_argument("--screenshot", default="runs/e2e/lab-explorer.png")
    p.add_argument("--timeout", type=float, default=240)
    args = p.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not browser or not driver_path:
        print("error: needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
              file=sys.stderr)
        return 2
    notebook = prepared_notebook(args.run_dir)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500"):
        options.add_argument(flag)
    with jupyter_lab() as (base, token):
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            driver.get(f"{base}/lab/tree/{notebook.relative_to(ROOT).as_posix()}?token={token}&reset")
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), args.timeout,
                     "the notebook to open")
            wait_for(lambda: "Idle" in driver.find_element(By.CSS_SELECTOR, "#jp-main-statusbar").text,
                     args.timeout, "the kernel to be ready")
            started = lambda: any(p.text.strip() not in ("[ ]:", "") for p in  # noqa: E731
                                  driver.find_elements(By.CSS_SELECTOR, ".jp-InputArea-prompt"))
            for attempt in range(3):  # on a loaded machine a click can land while the menu is still building
                menu = wait_for(lambda: [m for m in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
                                         if m.text.strip() == "Run"], args.timeout, "the Run menu")
                menu[0].click()
                wait_for(lambda: driver.find_element(By.CSS_SELECTOR, '[data-command="runmenu:run-all"]'), 30,
                         "Run All Cells").click()
                try:
                    wait_for(started, 30, "a cell to start running")
                    break
                except TimeoutError:
                    print(f"Run All did not start any cell (attempt {attempt + 1}); trying again")
            slider = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle"),
                              args.timeout, "the explorer's epoch slider")[0]
            images = lambda: driver.find_elements(By.CSS_SELECTOR, ".widget-image")  # noqa: E731
            caption = lambda: driver.find_element(By.CSS_SELECTOR, ".widget-html-content").text  # noqa: E731
            wait_for(lambda: images() and images()[0].get_attribute("src"), 60, "the heatmap image")
            before_src, before_caption = images()[0].get_attribute("src"), caption()
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", slider)
            slider.click()
            for _ in range(5):
                slider.send_keys(Keys.ARROW_LEFT)
            wait_for(lambda: images()[0].get_attribute("src") != before_src and caption() != before_caption, 60,
                     "the heatmap to change after moving the slider")
            print(f"slider moved: '{before_caption}' -> '{caption()}'; heatmap redrawn")
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'});",
                                  driver.find_element(By.CSS_SELECTOR, ".widget-vbox"))
            time.sleep(1.0)
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.screenshot)
            print(f"screenshot: {args.screenshot}")
        except Exception:
            failure = Path(args.screenshot).with_name("e2e-failure.png")
            failure.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(failure))
            print(f"the browser check failed; what the browser showed: {failure}", file=sys.stderr)
            raise
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
