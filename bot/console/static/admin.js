/* salesbot console, admin pages: tap a variable or filter to put it into the text at the cursor. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-insert]") : null;
    if (!button) { return; }
    var box = document.getElementById("text");
    if (!box) { return; }
    var snippet = button.getAttribute("data-insert");
    var start = box.selectionStart || 0;
    var end = box.selectionEnd || start;
    box.value = box.value.slice(0, start) + snippet + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + snippet.length;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
