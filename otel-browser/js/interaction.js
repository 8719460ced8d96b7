// The name of an interaction's span for `src/interaction.rs`: `{event type} {target}`, the target
// being the listening element's `data-testid`, else its `id`; the event type alone without
// either. Minified into the Rust file by scripts/snippets.py.
export function name(event) {
  const target = event.currentTarget;
  const label = target instanceof Element && (target.getAttribute("data-testid") ?? target.id);
  return label ? event.type + " " + label : event.type;
}
