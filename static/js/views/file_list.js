// A list of files being attached (the composer's, a canned response's on the manage page): each
// with its state (uploading, ready with its size, refused with the server's reason) and a remove button.
import { h } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";

/** `files`: [{key, name, status: "uploading"|"ready"|"error", upload?, error?}]; `onRemove(key)`. */
export function fileItems(files, onRemove) {
  return files.map((f) =>
    h(
      "li",
      { class: ["composer-file", `is-${f.status}`], dataset: { fileStatus: f.status } },
      icon(f.status === "error" ? "alert" : "file", { size: 14 }),
      h("span", { class: "composer-file-name" }, f.name),
      f.status === "uploading" ? h("span", { class: "composer-file-note" }, t("attach.uploading")) : null,
      f.status === "ready" ? h("span", { class: "composer-file-note" }, fmt.bytes(f.upload.size)) : null,
      f.status === "error" ? h("span", { class: "composer-file-error", role: "alert" }, t("attach.refused", { e: f.error })) : null,
      h(
        "button",
        { type: "button", class: "btn btn-ghost btn-icon btn-xs", "aria-label": t("attach.remove", { name: f.name }), onclick: () => onRemove(f.key) },
        icon("close", { size: 12 }),
      ),
    ),
  );
}
