// The agent inbox: conversation list | open conversation | contact panel.

import { h, replace } from "../dom.js";
import { ConversationList } from "./list.js";
import { ConversationPane } from "./conversation.js";
import { ContactPanel } from "./contact.js";

export class InboxView {
  constructor(session) {
    this.session = session;
    this.openId = null;
  }

  mount(container) {
    this.listEl = h("section", { class: "pane pane-list" });
    this.convEl = h("section", { class: "pane pane-conversation" });
    this.contactEl = h("aside", { class: "pane pane-contact" });
    this.el = h("div", { class: "inbox" }, this.listEl, this.convEl, this.contactEl);
    replace(container, this.el);
    this.list = new ConversationList(this.listEl, { session: this.session });
    this.pane = new ConversationPane(this.convEl, { session: this.session });
    this.contact = new ContactPanel(this.contactEl);
  }

  unmount() {
    this.list.destroy();
    this.pane.destroy();
    this.contact.destroy();
    this.el.remove();
  }

  open(id, messageId = null) {
    this.openId = id;
    this.el.classList.toggle("has-open", id !== null);
    this.list.setOpen(id);
    this.pane.open(id);
    if (messageId) this.pane.focusMessage(messageId);
    this.contact.open(id);
  }

  onEvent(frame) {
    this.pane.onEvent(frame);
  }

  retryFailed() {
    this.list.retryFailed();
    this.pane.retryFailed();
    this.contact.retryFailed();
  }

  reload() {
    this.list.reload();
    this.pane.reload();
    this.contact.reload();
  }
}
