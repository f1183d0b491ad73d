"""Contrast, measured in Chromium from the computed CSS colours, and accessible names.

Contrast is WCAG 2.x's: the ratio of the relative luminances of the text colour and the
colour behind it (semi-transparent backgrounds and opacity composited), at least 4.5:1,
or 3:1 for large text (24 px, or 18.66 px bold). Every visible piece of text on each page
visited is measured, and badges of every status besides those the list happens to show.
"""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser import demo

CONTRAST_JS = """
const parse = (text) => {
  const found = /rgba?\\(([^)]+)\\)/.exec(text);
  if (!found) return null;
  const [r, g, b, a = 1] = found[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
  return {r, g, b, a};
};
const over = (top, under) => {
  const mix = (key) => top[key] * top.a + under[key] * (1 - top.a);
  return {r: mix("r"), g: mix("g"), b: mix("b"), a: 1};
};
const behind = (el) => {  // the colour behind el's text: its backgrounds, composited
  const layers = [];
  for (let at = el; at; at = at.parentElement) {
    const colour = parse(getComputedStyle(at).backgroundColor);
    if (colour && colour.a > 0) layers.push(colour);
    if (colour && colour.a >= 1) break;
  }
  return layers.reverse().reduce((under, top) => over(top, under), {r: 255, g: 255, b: 255, a: 1});
};
const opacity = (el) => {
  let value = 1;
  for (let at = el; at; at = at.parentElement) value *= Number(getComputedStyle(at).opacity);
  return value;
};
const luminance = ({r, g, b}) => {
  const linear = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
};
const measure = (el, pseudo, text) => {
  const style = getComputedStyle(el, pseudo);
  const background = behind(el);
  const colour = parse(style.color);
  const seen = over({...colour, a: colour.a * opacity(el)}, background);
  const [light, dark] = [luminance(seen), luminance(background)].sort((x, y) => y - x);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
  const where = el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + [...el.classList].join(".");
  return {
    where: where + (pseudo || ""), text: text.trim().slice(0, 40),
    ratio: Math.round(((light + 0.05) / (dark + 0.05)) * 100) / 100, needs: large ? 3 : 4.5,
    colour: style.color,
    background: `rgb(${["r", "g", "b"].map((key) => Math.round(background[key])).join(", ")})`,
  };
};
const visible = (el) =>
  el.getClientRects().length > 0 && getComputedStyle(el).visibility === "visible";
const found = [];
for (const el of document.body.querySelectorAll("*:not(script):not(style):not(noscript)")) {
  const text = [...el.childNodes]
    .filter((node) => node.nodeType === Node.TEXT_NODE)
    .map((node) => node.data)
    .join("");
  if (text.trim() && visible(el)) found.push(measure(el, null, text));
  if (el.matches("input[placeholder]") && !el.value && visible(el)) {
    found.push(measure(el, "::placeholder", el.placeholder));
  }
}
return found;
"""

BADGES_JS = """
const box = document.createElement("div");
box.id = "badge-samples";
box.className = "panel";
for (const [text, slug, final] of arguments[0]) {
  const badge = document.createElement("span");
  badge.className = "moi-status moi-status-" + slug + (final ? " moi-status-final" : "");
  badge.textContent = text;
  box.append(badge);
}
document.querySelector("main").append(box);
"""

STATUSES = [
    ("Success", "success", True),
    ("Failed", "failed", True),
    ("Cancelled", "cancelled", True),
    ("Queued", "queued", False),
    ("Running", "running", False),
    ("…", "pending", False),
    ("3 s to go", "3-s-to-go", False),  # a job's own status text
    ("Saying hello", "saying-hello", False),
]


def low_contrast(driver) -> list[dict]:
    """Every piece of visible text on the page below its needed contrast."""
    return [item for item in driver.execute_script(CONTRAST_JS) if item["ratio"] < item["needs"]]


def check_page(driver, seen: dict[str, list[dict]]) -> None:
    seen[driver.current_url] = low_contrast(driver)


def test_every_text_and_badge_has_enough_contrast(app, browser, countdowns):
    driver = browser()
    driver.allow_console_errors(demo.REFUSED.format(path="signup"))
    failures: dict[str, list[dict]] = {}
    driver.get(f"{app.url}/signup")
    driver.find_element(By.ID, "signup-submit").click()  # a refusal: its message too
    demo.wait(driver, lambda d: d.find_elements(By.ID, "signup-error"), "the refusal")
    check_page(driver, failures)

    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    hello = demo.submit(driver, "hello", "name", "Ada")
    failed = demo.submit(driver, "fail", "message", "Out of coffee")
    cancelled = demo.submit(driver, "countdown", "seconds", "30")
    countdowns.append(cancelled)
    demo.row(driver, cancelled).find_element(By.CSS_SELECTOR, ".moi-job-cancel").click()
    running = demo.submit(driver, "countdown", "seconds", "30")
    countdowns.append(running)
    demo.wait_all(driver, [hello, failed, cancelled], *demo.FINAL)
    own = demo.wait(
        driver,
        lambda d: (job := demo.job(d, running)) and job["status"].endswith(" s to go") and job,
        "the countdown's own status",
    )
    driver.execute_script(BADGES_JS, STATUSES)
    check_page(driver, failures)

    hrefs = {job["id"]: job["href"] for job in demo.jobs(driver)}
    for job_id in (running, failed, hello):
        driver.get(f"{app.url}{hrefs[job_id]}")
        demo.wait(driver, lambda d: d.find_elements(By.ID, "job"), f"the page of {job_id}")
        check_page(driver, failures)

    failures = {url: found for url, found in failures.items() if found}
    assert not failures, f"text below 4.5:1 (3:1 if large), by page: {failures}"
    assert own["status"].endswith(" s to go")


def test_a_jobs_own_status_looks_informative_not_like_a_warning(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    driver.execute_script(BADGES_JS, STATUSES)
    colours = driver.execute_script(
        """
        const look = (el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor];
        const root = getComputedStyle(document.documentElement);
        const probe = document.createElement("p");
        probe.className = "notice";
        document.querySelector("main").append(probe);
        return {
          own: look(document.querySelector("#badge-samples .moi-status-3-s-to-go")),
          warning: look(probe),
          info: root.getPropertyValue("--info-soft").trim(),
        };
        """
    )
    assert colours["own"] != colours["warning"]
    assert colours["own"][1] == hex_to_rgb(colours["info"])


def hex_to_rgb(text: str) -> str:
    value = text.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({red}, {green}, {blue})"


def test_links_and_progress_bars_in_the_list_have_names_of_their_own(app, browser, countdowns):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    done = [demo.submit(driver, "hello", "name", name) for name in ("Ada", "Grace")]
    running = demo.submit(driver, "countdown", "seconds", "30")
    countdowns.append(running)
    demo.wait_all(driver, done, "Success")
    demo.wait(driver, lambda d: demo.job(d, running)["progress"] is not None, "a progress bar")
    rows = driver.find_elements(By.CSS_SELECTOR, "#moi-joblist .moi-job")
    links, bars = [], []
    for row in rows:
        name = row.find_element(By.CSS_SELECTOR, ".moi-job-name").text
        for link in row.find_elements(By.CSS_SELECTOR, "a.moi-job-link"):
            assert link.accessible_name == f"Open {name}"
            links.append(link.accessible_name)
        for bar in row.find_elements(By.CSS_SELECTOR, "progress"):
            assert bar.accessible_name == f"{name} progress"
            bars.append(bar.accessible_name)
        for button in row.find_elements(By.CSS_SELECTOR, "button"):
            assert button.accessible_name.endswith(f" {name}"), button.accessible_name
    assert len(links) == len(set(links)) == 3, links
    assert bars == ["Countdown from 30 s progress"]

    driver.get(f"{app.url}/result/countdown/{running}")
    bar = demo.wait(driver, lambda d: d.find_elements(By.ID, "job-progress"), "the job's page")
    assert bar[0].accessible_name == "Countdown from 30 s progress"


def test_placeholders_read_as_examples_not_as_typed_values(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    for field in driver.find_elements(By.CSS_SELECTOR, ".job-form input[placeholder]"):
        assert field.get_attribute("placeholder").startswith("e.g. ")
        typed, placeholder = driver.execute_script(
            "const el = arguments[0];"
            "return [getComputedStyle(el), getComputedStyle(el, '::placeholder')]"
            ".map((s) => [s.color, s.fontStyle]);",
            field,
        )
        assert placeholder[0] != typed[0] and placeholder[1] == "italic"
