// HTML escaping for the self-contained report pages and SVG charts (audit report, simulation report).
/** Escapes text for HTML element content and attribute values, so names and messages never become markup. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
