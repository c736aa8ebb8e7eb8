// ZT Console: start Swagger UI (served from our own static files) on the API reference page.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") return;
    window.SwaggerUIBundle({
      url: root.dataset.schemaUrl,
      domNode: root,
      deepLinking: true,
      // The session's CSRF token for "Try it out" calls made with the console session.
      requestInterceptor: function (request) {
        request.headers["X-CSRFToken"] = root.dataset.csrfToken;
        return request;
      },
    });
  });
})();
