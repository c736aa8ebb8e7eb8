// The audit explorer's filter form: leave empty filters out of the address, so a shared or bookmarked view
// reads as what it filters on (?actor=alice&action=auth.), not as a row of empty parameters.
(function () {
  "use strict";
  const form = document.querySelector("form.explorer-filters");
  if (!form) return;
  form.addEventListener("submit", function () {
    const action = form.querySelector("[name=action]");
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name) return;
      const empty = field.value === "" || (field.name === "action_match" && (!action || action.value === ""));
      if (empty) field.disabled = true;
    });
    // Re-enable after the browser has read the form, so going back shows the fields as they were.
    window.setTimeout(function () {
      Array.prototype.forEach.call(form.elements, function (field) { field.disabled = false; });
    }, 0);
  });
})();
