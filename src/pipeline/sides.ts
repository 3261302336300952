import type { Relationship } from "../model/types.js";

/** Cap on the distinct people/objects counted for the delete question, to keep memory bounded. */
export const DISTINCT_CAP = 100_000;

/** Object types seen are capped at this many (the delete question names them). */
const TYPES_CAP = 100;

/** Remembers object types and (up to a cap) distinct people and objects, for the delete question. */
export class SideCounter {
  readonly #types = new Set<string>();
  readonly #people = new Set<string>();
  readonly #objects = new Set<string>();

  /** Notes the two sides of one relationship. */
  note(rel: Relationship): void {
    const o = rel.object;
    if ("typeId" in o) {
      if (this.#types.size < TYPES_CAP) this.#types.add(o.typeId);
      if (this.#objects.size < DISTINCT_CAP) this.#objects.add(`${o.typeId}\u0000${o.id}`);
    } else if (this.#objects.size < DISTINCT_CAP) this.#objects.add(`cio\u0000${o.cioObjectId}`);
    if (this.#people.size < DISTINCT_CAP) this.#people.add(`${rel.person.key}\u0000${rel.person.value}`);
  }

  /** The figures as PipelineResult carries them. */
  figures(): { objectTypes: string[]; distinctPeople: number; distinctObjects: number } {
    return { objectTypes: [...this.#types].sort(), distinctPeople: this.#people.size, distinctObjects: this.#objects.size };
  }
}
