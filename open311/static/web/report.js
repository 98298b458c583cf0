/* The report page's enhancement (no framework, no build step): a live filter over the
   services. Everything here is optional: the pages work without it. */
(function () {
  "use strict";
  var search = document.querySelector(".js-service-search input[type=search]");
  if (search) {
    var none = document.querySelector(".js-none");
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      document.querySelectorAll(".js-group").forEach(function (group) {
        var inGroup = 0;
        group.querySelectorAll(".js-service").forEach(function (item) {
          var text = item.getAttribute("data-search");
          var match = words.every(function (w) { return text.indexOf(w) !== -1; });
          item.hidden = !match;
          if (match) { inGroup += 1; }
        });
        group.hidden = inGroup === 0;
        shown += inGroup;
      });
      if (none) { none.hidden = shown !== 0; }
    });
  }
})();
