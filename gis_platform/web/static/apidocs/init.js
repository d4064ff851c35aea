// Swagger UI on our own OpenAPI document; an external file because the CSP forbids inline scripts.
window.addEventListener("DOMContentLoaded", () => {
  // eslint-disable-next-line no-undef
  window.ui = SwaggerUIBundle({ url: "/api", dom_id: "#swagger-ui", deepLinking: true });
});
