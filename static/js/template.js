// Fills a canned response's {{variables}} from the open conversation, in the browser.
// Owns the variable names the reply box understands; an unknown or empty variable is left as typed,
// so the agent sees it and edits it before sending. When the automations issue's server-side
// template engine lands, it should become the one renderer (this module then asks it, or mirrors it).

const VAR = /\{\{\s*([a-z_]+(?:\.[a-z_]+)*)\s*\}\}/gi;

/** The variables' values for a conversation and the signed-in agent. */
export function context(conv, me) {
  const name = (conv && conv.contact && conv.contact.name) || "";
  return {
    "contact.name": name,
    "contact.first_name": name.trim().split(/\s+/)[0] || "",
    "agent.name": (me && me.name) || "",
  };
}

/** `body` with every known, non-empty {{variable}} replaced. */
export function render(body, ctx) {
  return String(body).replace(VAR, (whole, key) => {
    const value = ctx[key.toLowerCase()];
    return value ? value : whole;
  });
}
