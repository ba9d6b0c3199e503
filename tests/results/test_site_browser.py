"""The static leaderboard site, rendered in headless Chromium: what a visitor sees.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when
absent) and ``selenium`` (the ``test`` extra). Locally the test skips, saying why, when
Chromium cannot start; under CI (``CI`` set) it fails instead, so the check never
silently disappears. Screenshots of the index at desktop and phone widths are written
to ``$BRAINBENCH_SITE_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from helpers import interval_fixtures as fx

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# names whose alphabetical order is not their rank order, so sorting by name must move rows
MODELS = {"zeta-good": (0.2, 0.5), "alpha-mid": (0.8, 1.2), "mid-weak": (1.4, 2.0)}


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI, but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store of planted runs (3 models x 2 benchmarks, one cell missing) and the site the CLI writes."""
    from brainbench.cli.main import main
    from brainbench.results.store import ResultStore

    root = tmp_path_factory.mktemp("site")
    store = ResultStore(root / "results.sqlite")
    for k, (model, (low, high)) in enumerate(MODELS.items()):
        for bench, seed, region in (("planted-V4", 0, "V4"), ("planted-IT", 1, "IT")):
            if model == "mid-weak" and bench == "planted-IT":
                continue  # a partial row
            z, sigma, target = fx.population(seed, 80, 20)
            prediction = fx.predictions(z, 20, 10 + k, low, high)
            ds = fx.planted_dataset(
                model, prediction, target, sigma, benchmark=bench, data_id=f"d{seed}", region=region
            )
            store.record(ds)
    out = root / "site"
    assert main(["leaderboard", "site", "--out", str(out), "--store", str(store.path)]) == 0
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        _unavailable(f"{CHROMIUM} or {DRIVER} is missing (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    except WebDriverException as error:
        _unavailable(f"Chromium did not start: {str(error).splitlines()[0]}")
    yield driver
    driver.quit()


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _names(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        row.find_element(By.CSS_SELECTOR, "th.name").text
        for row in driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    ]


def test_index_shows_ranked_rows_with_intervals_and_sorts(site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get((site / "index.html").as_uri())
    # complete rows first: the partial row ranks last whatever its mean
    assert _names(browser) == ["zeta-good", "alpha-mid", "mid-weak"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    first = rows[0].find_element(By.CSS_SELECTOR, '[data-col="overall"]').text
    assert "[" in first and "]" in first  # the interval shows under the score
    assert rows[2].find_element(By.CSS_SELECTOR, '[data-col="coverage"]').text == "1/2"
    assert "a missing cell never helps" in browser.find_element(By.TAG_NAME, "body").text
    button = browser.find_element(By.CSS_SELECTOR, 'th[data-col="model"] button')
    button.click()  # first click: descending
    assert _names(browser) == ["zeta-good", "mid-weak", "alpha-mid"]
    button.click()
    assert _names(browser) == ["alpha-mid", "mid-weak", "zeta-good"]
    assert _errors(browser) == []
    shots = Path(os.environ.get("BRAINBENCH_SITE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
        browser.set_window_size(width, height)
        browser.get((site / "index.html").as_uri())
        browser.save_screenshot(str(shots / f"index-{name}.png"))
        # the page never scrolls sideways: the wide table scrolls inside its own box
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name}: the page is {overflow}px wider than the window"
    browser.set_window_size(1280, 900)


def test_every_page_link_resolves_and_no_page_logs_an_error(site, browser):
    from selenium.webdriver.common.by import By

    pages = [
        site / "index.html",
        *sorted((site / "benchmarks").glob("*.html")),
        *sorted((site / "models").glob("*.html")),
    ]
    assert len(pages) == 1 + 2 + 3
    root = site.resolve()
    for page in pages:
        browser.get(page.as_uri())
        for element in browser.find_elements(By.CSS_SELECTOR, "a[href], img[src], link[href]"):
            url = element.get_attribute("href") or element.get_attribute("src")
            if url.startswith("data:"):
                continue
            parsed = urlparse(url)
            assert parsed.scheme == "file", f"{page.name} links outside the folder: {url}"
            target = Path(unquote(parsed.path)).resolve()
            assert target.is_file() and root in target.parents, f"{page.name}: broken link {url}"
        for image in browser.find_elements(By.TAG_NAME, "img"):
            assert image.get_attribute("alt"), f"{page.name}: an image without alt text"
            assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
        assert _errors(browser) == [], f"{page.name} logged console errors"
    # readable without JavaScript: the ranked rows are in the HTML itself
    text = (site / "index.html").read_text()
    assert all(f">{model}</a>" in text for model in MODELS)


def test_benchmark_page_has_the_paired_matrix_and_ties(site, browser):
    from selenium.webdriver.common.by import By

    browser.get((site / "benchmarks" / "planted-V4-v1.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Paired comparisons" in body and "Holm" in body and "row − column" in body
    assert len(browser.find_elements(By.CSS_SELECTOR, "td.sig")) >= 2  # good vs weak is separated both ways
