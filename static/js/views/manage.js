// The supervisors' and admins' page for what agents use (#/manage): canned responses (short code,
// text with {{variables}}, files uploaded here and attached when an agent picks it) and labels (name,
// colour). Add, edit in place, delete. Errors from the
// API (a taken short code, a space in it) are shown next to the form that caused them.

import * as api from "../api.js";
import { h, replace, uuid } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { invalidateCanned } from "./canned.js";
import { fileItems } from "./file_list.js";
import { labelChip, labelSet } from "./labels.js";

function errorText(err) {
  return err.status === 0 ? t("error.network") : err.message;
}

export class ManageView {
  constructor(session) {
    this.session = session;
  }

  mount(container) {
    this.cannedRows = h("tbody");
    this.labelRows = h("tbody");
    this.el = h(
      "div",
      { class: "supervisor manage" },
      h("div", { class: "sup-head" }, h("h1", {}, t("manage.title"))),
      h("div", { class: "sup-grid" }, this.cannedCard(), this.labelCard()),
    );
    replace(container, this.el);
    this.reload();
  }

  unmount() {
    this.el.remove();
  }

  retryFailed() {
    this.reload();
  }

  reload() {
    this.loadCanned();
    this.loadLabels();
  }

  // ---- canned responses
  cannedCard() {
    this.code = h("input", { id: "canned-code", class: "input", required: true, maxlength: 50, autocomplete: "off", placeholder: "horario" });
    this.body = h("textarea", { id: "canned-body", class: "input", required: true, rows: 3, maxlength: 4096 });
    this.cannedError = h("p", { class: "form-error", role: "alert", hidden: true });
    // Files: uploaded as soon as they are picked (the server's refusal shows on the file), kept by id.
    this.cannedFiles = []; // {key, name, status: "uploading"|"ready"|"error", upload: {id, size}, error}
    this.cannedFileList = h("ul", { class: "composer-files", "aria-label": t("canned.files") });
    this.cannedFileInput = h("input", { id: "canned-files", type: "file", multiple: true, class: "sr-only", onchange: (e) => { this.addCannedFiles(e.target.files); e.target.value = ""; } });
    this.cannedSubmit = h("button", { type: "submit", class: "btn btn-primary btn-sm", dataset: { action: "canned-save" } }, t("manage.add"));
    this.cannedCancel = h("button", { type: "button", class: "btn btn-ghost btn-sm", hidden: true, onclick: () => this.editCanned(null) }, t("manage.cancel"));
    this.cannedForm = h(
      "form",
      { class: "manage-form", onsubmit: (e) => { e.preventDefault(); this.saveCanned(); } },
      h("label", { for: "canned-code" }, t("canned.short_code")),
      this.code,
      h("label", { for: "canned-body" }, t("canned.body")),
      this.body,
      h("p", { class: "muted-note" }, t("canned.variables")),
      h(
        "div",
        { class: "manage-files" },
        h("label", { for: "canned-files", class: "btn btn-ghost btn-sm", dataset: { action: "canned-attach" } }, icon("paperclip", { size: 14 }), t("canned.add_files")),
        this.cannedFileInput,
      ),
      this.cannedFileList,
      this.cannedError,
      h("div", { class: "manage-actions" }, this.cannedSubmit, this.cannedCancel),
    );
    return h(
      "section",
      { class: "card", "aria-labelledby": "canned-title" },
      h("h2", { id: "canned-title" }, t("canned.title")),
      h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, t("canned.short_code")), h("th", {}, t("canned.body")), h("th", {}))), this.cannedRows),
      this.cannedForm,
    );
  }

  async loadCanned() {
    try {
      const { items } = await api.get("/api/canned-responses");
      replace(
        this.cannedRows,
        items.map((c) =>
          h(
            "tr",
            { dataset: { code: c.short_code } },
            h("th", {}, `/${c.short_code}`),
            h(
              "td",
              { class: "manage-body" },
              c.body,
              c.attachments?.length
                ? h("span", { class: "manage-file-names", dataset: { files: "" } }, icon("paperclip", { size: 12 }), " ", c.attachments.map((a) => a.name).join(", "))
                : null,
            ),
            h(
              "td",
              { class: "manage-row-actions" },
              h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.editCanned(c) }, t("manage.edit")),
              h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.removeCanned(c) }, t("manage.delete")),
            ),
          ),
        ),
      );
    } catch (err) {
      this.showError(this.cannedError, err);
    }
  }

  editCanned(c) {
    this.editingCanned = c;
    this.code.value = c ? c.short_code : "";
    this.body.value = c ? c.body : "";
    this.cannedFiles = (c?.attachments || []).map((a) => ({ key: uuid(), name: a.name, status: "ready", upload: { id: a.upload_id, size: a.size }, error: null }));
    this.renderCannedFiles();
    this.cannedSubmit.textContent = c ? t("manage.save") : t("manage.add");
    this.cannedCancel.hidden = !c;
    this.cannedError.hidden = true;
    this.code.focus();
  }

  addCannedFiles(list) {
    for (const file of [...list].slice(0, 10 - this.cannedFiles.length)) {
      const item = { key: uuid(), name: file.name || t("msg.file"), status: "uploading", upload: null, error: null };
      this.cannedFiles.push(item);
      api.upload(file).then(
        (upload) => {
          item.upload = upload;
          item.status = "ready";
          this.renderCannedFiles();
        },
        (err) => {
          item.status = "error";
          item.error = errorText(err);
          this.renderCannedFiles();
        },
      );
    }
    this.renderCannedFiles();
  }

  renderCannedFiles() {
    const remove = (key) => {
      this.cannedFiles = this.cannedFiles.filter((x) => x.key !== key);
      this.renderCannedFiles();
    };
    replace(this.cannedFileList, fileItems(this.cannedFiles, remove));
  }

  async saveCanned() {
    if (this.cannedFiles.some((f) => f.status === "uploading")) return; // save again once they are up
    const payload = {
      short_code: this.code.value.trim(),
      body: this.body.value,
      upload_ids: this.cannedFiles.filter((f) => f.status === "ready").map((f) => f.upload.id),
    };
    this.cannedError.hidden = true;
    try {
      if (this.editingCanned) await api.put(`/api/canned-responses/${this.editingCanned.id}`, payload);
      else await api.post("/api/canned-responses", payload);
      invalidateCanned();
      this.editCanned(null);
      await this.loadCanned();
    } catch (err) {
      this.showError(this.cannedError, err);
    }
  }

  async removeCanned(c) {
    if (!window.confirm(t("manage.confirm_delete", { name: `/${c.short_code}` }))) return;
    try {
      await api.del(`/api/canned-responses/${c.id}`);
      invalidateCanned();
      await this.loadCanned();
    } catch (err) {
      this.showError(this.cannedError, err);
    }
  }

  // ---- labels
  labelCard() {
    this.labelName = h("input", { id: "label-name", class: "input", required: true, maxlength: 50, autocomplete: "off" });
    this.labelColor = h("input", { id: "label-color", class: "input label-color", type: "color", value: "#2563eb" });
    this.labelError = h("p", { class: "form-error", role: "alert", hidden: true });
    this.labelSubmit = h("button", { type: "submit", class: "btn btn-primary btn-sm", dataset: { action: "label-save" } }, t("manage.add"));
    this.labelCancel = h("button", { type: "button", class: "btn btn-ghost btn-sm", hidden: true, onclick: () => this.editLabel(null) }, t("manage.cancel"));
    return h(
      "section",
      { class: "card", "aria-labelledby": "labels-title" },
      h("h2", { id: "labels-title" }, t("labels.title")),
      h("table", { class: "table" }, this.labelRows),
      h(
        "form",
        { class: "manage-form", onsubmit: (e) => { e.preventDefault(); this.saveLabel(); } },
        h("label", { for: "label-name" }, t("labels.name")),
        this.labelName,
        h("label", { for: "label-color" }, t("labels.color")),
        this.labelColor,
        this.labelError,
        h("div", { class: "manage-actions" }, this.labelSubmit, this.labelCancel),
      ),
    );
  }

  async loadLabels() {
    const items = await labelSet.load(true);
    replace(
      this.labelRows,
      items.map((l) =>
        h(
          "tr",
          { dataset: { label: l.name } },
          h("td", {}, labelChip(l)),
          h(
            "td",
            { class: "manage-row-actions" },
            h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.editLabel(l) }, t("manage.edit")),
            h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.removeLabel(l) }, t("manage.delete")),
          ),
        ),
      ),
    );
  }

  editLabel(l) {
    this.editingLabel = l;
    this.labelName.value = l ? l.name : "";
    if (l) this.labelColor.value = l.color;
    this.labelSubmit.textContent = l ? t("manage.save") : t("manage.add");
    this.labelCancel.hidden = !l;
    this.labelError.hidden = true;
    this.labelName.focus();
  }

  async saveLabel() {
    const payload = { name: this.labelName.value, color: this.labelColor.value };
    this.labelError.hidden = true;
    try {
      if (this.editingLabel) await api.put(`/api/labels/${this.editingLabel.id}`, payload);
      else await api.post("/api/labels", payload);
      this.editLabel(null);
      await this.loadLabels();
    } catch (err) {
      this.showError(this.labelError, err);
    }
  }

  async removeLabel(l) {
    if (!window.confirm(t("manage.confirm_delete", { name: l.name }))) return;
    try {
      await api.del(`/api/labels/${l.id}`);
      await this.loadLabels();
    } catch (err) {
      this.showError(this.labelError, err);
    }
  }

  showError(box, err) {
    box.textContent = errorText(err);
    box.hidden = false;
  }
}
