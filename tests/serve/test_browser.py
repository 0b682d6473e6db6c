"""The served page in a real browser: Debian's headless Chromium driven by Playwright uploads an
image, the predicted class shown on the page is read back, and a screenshot is kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import visionfit

_CANDIDATES = (os.environ.get("VISIONFIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"))
CHROMIUM = next((p for p in _CANDIDATES if p and Path(p).is_file()), None)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page():
    if CHROMIUM is None:
        pytest.skip("no Chromium browser at /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 760})
        finally:
            browser.close()


def _shots() -> Path:
    out = Path(
        os.environ.get("VISIONFIT_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
    )
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_upload_in_browser_shows_the_predicted_class(server, page, tiny_run):
    run = tiny_run("multiclass")
    image = next((run.parents[2] / "data" / "shapes" / "triangle").glob("*.png"))
    expected = visionfit.load(run).predict([str(image)]).iloc[0]["pred"]
    url = server("multiclass")
    page.goto(url)
    assert "simple_cnn" in page.text_content("header")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#result:not([hidden]) .bar")
    assert page.text_content("#pred").strip() == expected
    bars = page.locator(".bar .name").all_text_contents()
    assert bars[0] == expected and sorted(bars) == ["circle", "square", "triangle"]
    assert page.locator("#preview").is_visible() and not page.locator("#overlay").is_visible()
    page.screenshot(path=str(_shots() / "serve-classify.png"), full_page=True)

    page.set_input_files(
        "#file", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    )
    page.wait_for_selector("#status.err")
    assert page.text_content("#status").startswith("415")

    page.goto(url + "docs")  # the API docs, offline too
    assert "/predict" in page.text_content("body") and "curl -F file=@" in page.text_content("body")
    page.screenshot(path=str(_shots() / "serve-docs.png"), full_page=True)


def test_segmentation_page_draws_the_mask(server, page, tiny_run):
    run = tiny_run("segment")
    image = next((run.parents[2] / "data" / "seg" / "images").glob("*.png"))
    page.goto(server("segment"))
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#seg:not([hidden])")
    assert "foreground" in page.text_content("#pred")
    assert page.locator("#overlay").is_visible()
    page.uncheck("#showmask")
    assert not page.locator("#overlay").is_visible()
    page.check("#showmask")
    assert page.input_value("#rle") != ""
    page.screenshot(path=str(_shots() / "serve-segment.png"), full_page=True)
