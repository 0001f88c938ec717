// Reordering by dragging a handle (mouse, pen or touch, through pointer events) or from the keyboard (arrow
// keys on a focused handle). Items move in the page as they are dragged; `onMove` saves the new order once
// the item is dropped, and the view reloads from the server either way.

/**
 * @param {HTMLElement} root where items live (events are delegated from here)
 * @param {object} options
 * @param {string} options.item selector of a movable item
 * @param {string} options.handle selector of the handle inside an item
 * @param {string} options.list selector of the lists items can be dropped into
 * @param {(item: HTMLElement, from: HTMLElement, to: HTMLElement) => void} options.onMove
 * @param {() => void} [options.onEnd] called after every drag, moved or not
 */
export function sortable(root, { item: itemSelector, handle: handleSelector, list: listSelector, onMove, onEnd }) {
  root.addEventListener("pointerdown", (event) => {
    const handle = event.target.closest(handleSelector);
    if (!handle || !root.contains(handle) || event.button !== 0) return;
    const item = handle.closest(itemSelector);
    if (!item) return;
    event.preventDefault();
    const from = item.parentElement;
    const startIndex = [...from.children].indexOf(item);
    item.classList.add("dragging");
    document.body.classList.add("is-dragging");

    const move = (moveEvent) => {
      if (moveEvent.pointerId !== event.pointerId) return;
      const under = document.elementFromPoint(moveEvent.clientX, moveEvent.clientY);
      if (!under) return;
      const over = under.closest(itemSelector);
      if (over && over !== item && over.parentElement?.matches(listSelector) && sameKind(over, item)) {
        const box = over.getBoundingClientRect();
        const after = isSingleColumn(over.parentElement)
          ? moveEvent.clientY > box.top + box.height / 2
          : moveEvent.clientX > box.left + box.width / 2;
        over.parentElement.insertBefore(item, after ? over.nextElementSibling : over);
      } else if (!over) {
        const list = under.closest(listSelector);
        if (list && list !== item.parentElement && !list.querySelector(itemSelector)) list.append(item);
      }
      autoScroll(moveEvent.clientY);
    };
    const finish = (commit) => {
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", drop);
      document.removeEventListener("pointercancel", cancel);
      item.classList.remove("dragging");
      document.body.classList.remove("is-dragging");
      const to = item.parentElement;
      if (!commit) from.insertBefore(item, from.children[startIndex] ?? null);
      else if (to !== from || [...to.children].indexOf(item) !== startIndex) onMove(item, from, to);
      onEnd?.();
    };
    const drop = () => finish(true);
    const cancel = () => finish(false);
    // Listened to on the document: the pointer leaves the handle as soon as the item moves.
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", drop);
    document.addEventListener("pointercancel", cancel);
  });

  root.addEventListener("keydown", (event) => {
    const handle = event.target.closest(handleSelector);
    if (!handle || !root.contains(handle)) return;
    const item = handle.closest(itemSelector);
    const earlier = event.key === "ArrowUp" || event.key === "ArrowLeft";
    const later = event.key === "ArrowDown" || event.key === "ArrowRight";
    if (!item || !(earlier || later)) return;
    event.preventDefault();
    const list = item.parentElement;
    const sibling = earlier ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling || !sibling.matches(itemSelector)) return;
    list.insertBefore(item, earlier ? sibling : sibling.nextElementSibling);
    handle.focus();
    onMove(item, list, list);
  });
}

function sameKind(a, b) {
  return a.matches(b.tagName) && a.className.split(" ")[0] === b.className.split(" ")[0];
}

function isSingleColumn(list) {
  const style = getComputedStyle(list);
  if (style.display !== "grid") return true;
  return style.gridTemplateColumns.trim().split(/\s+/).length === 1;
}

function autoScroll(y) {
  const edge = 60;
  if (y < edge) window.scrollBy(0, -12);
  else if (y > window.innerHeight - edge) window.scrollBy(0, 12);
}
