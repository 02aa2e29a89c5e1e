/**
 * `h('button', {class: 'x', testid: 'send', onclick}, 'Send')`: elements built from text
 * nodes and properties, never from HTML strings. Every string child becomes a text node, so
 * whatever the server sent (message content, names, file names) is shown as text.
 */

// Set as properties (they are live state, not markup).
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'selectedIndex']);

/**
 * @param {string} tag
 * @param {Record<string, any> | null} [props] `class`, `testid` (→ `data-testid`), `dataset`,
 *   `text`, `on<event>` listeners, properties (`value`, `checked`, `disabled`, `hidden`), other
 *   attributes (`false`, `null` and `undefined` leave an attribute out)
 * @param {...any} children nodes, strings, numbers, arrays of them; null/false are skipped
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) element[key] = value;
    else if (value === undefined || value === null || value === false) continue;
    else if (key === 'class') element.className = value;
    else if (key === 'testid') element.dataset.testid = value;
    else if (key === 'dataset') for (const [name, data] of Object.entries(value)) element.dataset[name] = String(data);
    else if (key === 'text') element.textContent = String(value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children (as {@link h} takes them). */
export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces an element's children. */
export function replaceChildren(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}
