/* Keeps a part of a page current without reloading the page.
 *
 * Every element with data-refresh-src (a URL answering an HTML fragment) is replaced by that
 * fragment every data-refresh-every seconds. Reloading the whole page instead would move a
 * screen reader back to the top and lose the reader's place; the element should carry
 * aria-live="polite" so that changes are announced. A failed request leaves the element as it
 * was and the next interval tries again. Plain ES5; without JavaScript the page says how to
 * reload it.
 */
(function () {
  "use strict";
  var boxes = document.querySelectorAll("[data-refresh-src]");
  Array.prototype.forEach.call(boxes, function (box) {
    var every = Math.max(1, parseInt(box.getAttribute("data-refresh-every"), 10) || 15) * 1000;
    function refresh() {
      fetch(box.getAttribute("data-refresh-src"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { box.innerHTML = html; } })
        .catch(function () {});
    }
    window.setInterval(refresh, every);
  });
})();
