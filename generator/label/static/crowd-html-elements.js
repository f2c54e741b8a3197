// Local stand-ins for the Crowd HTML Elements (https://assets.crowd.aws/crowd-html-elements.js), just
// enough for a text classification task: `sagespec local label` serves the project's worker task
// template with this file in place of AWS's, so the same template works on a laptop.
//
//   <crowd-form>         a form with a Submit button; it posts the answer in A2I's answerContent shape
//   <crowd-classifier>   name, categories (a JSON list), header; its regions classification-target,
//                        short-instructions and full-instructions. Answer: {"<name>": {"label": "..."}}
//
// The page is built from the template's own elements; text is only ever set with textContent.
(function () {
  "use strict";

  function parseCategories(text) {
    try {
      return JSON.parse(text);
    } catch (error) {
      // AWS's examples also write categories="['Positive', 'Negative']".
      return JSON.parse(text.replace(/'/g, '"'));
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  class CrowdClassifier extends HTMLElement {
    get answerName() {
      return this.getAttribute("name") || "crowd-classifier";
    }

    // {"label": "<category>"} once a category is chosen, else null.
    get value() {
      const checked = this.querySelector("input.crowd-category:checked");
      return checked ? { label: checked.value } : null;
    }

    build() {
      if (this.dataset.built) return;
      this.dataset.built = "true";
      const categories = parseCategories(this.getAttribute("categories") || "[]");
      const target = this.querySelector("classification-target");
      const shortInstructions = this.querySelector("short-instructions");
      const fullInstructions = this.querySelector("full-instructions");

      const header = element("h1", "crowd-header", this.getAttribute("header") || "");
      const choices = element("fieldset", "crowd-categories");
      choices.append(element("legend", "", "Label"));
      categories.forEach((category, index) => {
        const id = `${this.answerName}-${index}`;
        const input = element("input", "crowd-category");
        Object.assign(input, { type: "radio", name: this.answerName, value: String(category), id: id });
        const label = element("label", "crowd-choice");
        label.htmlFor = id;
        label.append(input, document.createTextNode(" " + String(category)));
        choices.append(label);
      });

      const layout = element("div", "crowd-layout");
      const task = element("section", "crowd-task");
      task.append(header);
      if (target) task.append(target);
      task.append(choices);
      const help = element("aside", "crowd-instructions");
      if (shortInstructions) help.append(shortInstructions);
      if (fullInstructions) {
        const details = element("details");
        details.append(element("summary", "", fullInstructions.getAttribute("header") || "Full instructions"));
        details.append(fullInstructions);
        help.append(details);
      }
      layout.append(task, help);
      this.append(layout);
    }
  }

  class CrowdForm extends HTMLElement {
    build() {
      if (this.dataset.built) return;
      this.dataset.built = "true";
      this.startedAt = new Date();
      this.status = element("p", "crowd-status");
      this.status.setAttribute("role", "status");
      const button = element("button", "crowd-submit", "Submit");
      button.type = "button";
      button.addEventListener("click", () => this.submit());
      const footer = element("div", "crowd-footer");
      footer.append(this.status, button);
      this.append(footer);
      this.addEventListener("change", () => {
        this.status.textContent = "";
      });
    }

    // The answer as A2I stores it in humanAnswers[].answerContent.
    answerContent() {
      const answer = {};
      const missing = [];
      this.querySelectorAll("crowd-classifier").forEach((classifier) => {
        const value = classifier.value;
        if (value) answer[classifier.answerName] = value;
        else missing.push(classifier.answerName);
      });
      return { answer: answer, missing: missing };
    }

    submit() {
      const { answer, missing } = this.answerContent();
      if (missing.length) {
        this.status.textContent = "Choose a label before you submit.";
        return;
      }
      this.status.textContent = "Saving…";
      fetch(window.location.pathname + "/submit", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ answerContent: answer }),
      })
        .then((response) =>
          response.json().then((body) => {
            if (!response.ok) throw new Error(body.error || response.statusText);
            return body;
          })
        )
        .then((body) => {
          this.status.textContent = "Saved.";
          window.location.assign(body.next);
        })
        .catch((error) => {
          this.status.textContent = "Not saved: " + error.message;
        });
    }
  }

  for (const [name, definition] of [["crowd-classifier", CrowdClassifier], ["crowd-form", CrowdForm]]) {
    if (!customElements.get(name)) customElements.define(name, definition);
  }

  function build() {
    document.querySelectorAll("crowd-classifier").forEach((classifier) => classifier.build());
    document.querySelectorAll("crowd-form").forEach((form) => form.build());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build);
  else build();
})();
