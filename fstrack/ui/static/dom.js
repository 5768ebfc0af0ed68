// Building DOM safely: every string becomes a text node or an attribute value, never markup.

const PROPS = new Set(["value", "checked", "disabled", "selected", "title", "type", "placeholder", "min", "max",
  "step", "href", "src", "colSpan", "rowSpan", "htmlFor", "id", "name", "download", "tabIndex", "open", "hidden"]);

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "href" && !safeHref(String(value))) continue;
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Links the app builds are relative paths or the app's own API; anything else (javascript:, data:) is dropped.
export function safeHref(href) {
  return href.startsWith("/") && !href.startsWith("//") || href.startsWith("?") || href.startsWith("#");
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  return append(clear(el), children);
}
