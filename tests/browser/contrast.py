"""Contrast, measured in Chromium from the computed CSS colours, and the colour scheme.

Contrast is WCAG 2.x's: the ratio of the relative luminances of the text colour and the
colour behind it (semi-transparent backgrounds and opacity composited, over the canvas),
at least 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

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
// Under every background: the canvas, white in a light scheme, dark where the page says
// color-scheme: dark (or light dark, in a dark system) and paints nothing itself.
const canvasProbe = document.createElement("div");
canvasProbe.style.backgroundColor = "Canvas";
document.documentElement.append(canvasProbe);
const canvas = parse(getComputedStyle(canvasProbe).backgroundColor);
canvasProbe.remove();
const behind = (el) => {  // the colour behind el's text: its backgrounds, composited
  const layers = [];
  for (let at = el; at; at = at.parentElement) {
    const colour = parse(getComputedStyle(at).backgroundColor);
    if (colour && colour.a > 0) layers.push(colour);
    if (colour && colour.a >= 1) break;
  }
  return layers.reverse().reduce((under, top) => over(top, under), canvas);
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


LUMINANCE_JS = """
const parse = (text) => /rgba?\\(([^)]+)\\)/.exec(text)[1].split(/[\\s,\\/]+/).map(Number);
const linear = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
const [r, g, b] = parse(getComputedStyle(arguments[0]).backgroundColor);
return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
"""


def low_contrast(driver: WebDriver) -> list[dict[str, Any]]:
    """Every piece of visible text on the page below its needed contrast."""
    return [item for item in driver.execute_script(CONTRAST_JS) if item["ratio"] < item["needs"]]


def prefer_scheme(driver: WebDriver, scheme: str) -> None:
    """Make the browser's system prefer ``scheme`` ("light" or "dark"), as an OS setting does."""
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


def surface_luminance(driver: WebDriver, element: WebElement) -> float:
    """The relative luminance of ``element``'s own background (0 black, 1 white)."""
    return float(driver.execute_script(LUMINANCE_JS, element))
