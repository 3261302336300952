import type { Relationship } from "../model/types.js";
import { looksLikeEmail } from "../model/validate.js";

/** How many valid rows the emails-sent-as-id warning looks at: enough to judge, early enough to come before sending. */
export const EMAIL_SAMPLE = 1_000;

/**
 * issue 10: person values sent as `id` that look like email addresses, among the first EMAIL_SAMPLE valid rows;
 * tells `warn` once when most of them do.
 */
export class EmailSample {
  #seen = 0;
  #like = 0;
  #told: boolean;

  constructor(private readonly warn: ((warning: string) => void) | undefined) {
    this.#told = warn === undefined;
  }

  /** Looks at one mapped relationship while the sample is open. */
  note(rel: Relationship): void {
    if (this.#told || rel.person.key !== "id") return;
    this.#seen++;
    if (looksLikeEmail(rel.person.value)) this.#like++;
    if (this.#seen >= EMAIL_SAMPLE) this.tell();
  }

  /** Closes the sample (full, or the input ended) and warns if most values looked like emails. */
  tell(): void {
    if (this.#told || this.#seen === 0) return;
    this.#told = true;
    if (this.#like * 2 > this.#seen) {
      const values = this.#seen === 1 ? "person value" : `${this.#seen} person values`;
      this.warn?.(
        `${this.#like} of the first ${values} look like email addresses but are sent as id: pass --person-key email to send them as email addresses`,
      );
    }
  }
}
