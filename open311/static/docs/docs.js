// Renders the gateway's openapi.yaml with the vendored Swagger UI (see VENDORED.md).
// Everything comes from this server: the options below switch off the two things in
// Swagger UI that would otherwise reach the Internet or take instructions from the URL.
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    // The default sends the spec's address to validator.swagger.io for a badge.
    validatorUrl: null,
    // Do not read ?url= / ?configUrl= from the address bar (no foreign specs in our page).
    queryConfigEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    tryItOutEnabled: false,
    withCredentials: false
  });
});
