import { describe, expect, it } from "vitest";
import { obj, objectOp, opOfSize, personOp } from "./http.js";
import { OP_LIMIT_BYTES, opBytes, validateOp } from "./validation.js";

const valid = objectOp(obj("acme"), [{ identifiers: { id: "42" }, relationship_attributes: { role: "admin" } }]);
const long = "x".repeat(151);
const at150 = "x".repeat(150);

describe("validateOp", () => {
  it("accepts the four relationship ops of the spec and normalises them to pairs", () => {
    const byObject = validateOp(valid);
    expect(byObject).toEqual({
      ok: true,
      op: {
        type: "object",
        action: "add_relationships",
        relationships: [{ object: { objectTypeId: "1", objectId: "acme" }, person: { key: "id", value: "42" }, attributes: { role: "admin" } }],
      },
    });
    const byPerson = validateOp(personOp({ email: "a@b.c" }, [{ identifiers: { cio_object_id: "ob1" } }], "delete_relationships"));
    expect(byPerson).toEqual({
      ok: true,
      op: {
        type: "person",
        action: "delete_relationships",
        relationships: [{ object: { objectTypeId: "cio_object_id", objectId: "ob1" }, person: { key: "email", value: "a@b.c" }, attributes: {} }],
      },
    });
    expect(validateOp(personOp({ phone: "+14155552671" }, [{ identifiers: obj("a") }])).ok).toBe(true);
    expect(validateOp(objectOp(obj("a", "12"), [{ identifiers: { cio_id: "c1" } }], "delete_relationships")).ok).toBe(true);
    expect(validateOp(objectOp(obj(at150), [{ identifiers: { id: at150 } }])).ok).toBe(true);
  });

  const cases: Array<[string, unknown, { reason: string; field: string }]> = [
    ["not an object", [1], { reason: "invalid", field: "" }],
    ["no type", { ...valid, type: undefined }, { reason: "required", field: "type" }],
    ["unknown type", { ...valid, type: "delivery" }, { reason: "invalid", field: "type" }],
    ["no action", { ...valid, action: undefined }, { reason: "required", field: "action" }],
    ["unknown action", { ...valid, action: "add_relationship" }, { reason: "invalid", field: "action" }],
    ["identify is not modelled", { ...valid, action: "identify" }, { reason: "unsupported", field: "action" }],
    ["no cio_relationships", { ...valid, cio_relationships: undefined }, { reason: "required", field: "cio_relationships" }],
    ["cio_relationships not an array", { ...valid, cio_relationships: {} }, { reason: "invalid", field: "cio_relationships" }],
    ["empty cio_relationships", { ...valid, cio_relationships: [] }, { reason: "required", field: "cio_relationships" }],
    ["no object identifiers", { ...valid, identifiers: undefined }, { reason: "required", field: "identifiers" }],
    [
      "object_type_id not a string",
      objectOp({ object_type_id: 1, object_id: "a" } as never, [{ identifiers: { id: "1" } }]),
      { reason: "invalid", field: "identifiers" },
    ],
    ["object_type_id zero", objectOp(obj("a", "0"), [{ identifiers: { id: "1" } }]), { reason: "invalid", field: "identifiers" }],
    ["object_type_id a name", objectOp(obj("a", "companies"), [{ identifiers: { id: "1" } }]), { reason: "invalid", field: "identifiers" }],
    ["object_id missing", objectOp({ object_type_id: "1" } as never, [{ identifiers: { id: "1" } }]), { reason: "invalid", field: "identifiers" }],
    [
      "both object id forms",
      objectOp({ ...obj("a"), cio_object_id: "x" }, [{ identifiers: { id: "1" } }]),
      { reason: "invalid", field: "identifiers" },
    ],
    ["object_id over 150 bytes", objectOp(obj(long), [{ identifiers: { id: "1" } }]), { reason: "too_long", field: "identifiers" }],
    [
      "object_id 150 bytes of multi-byte text",
      objectOp(obj("é".repeat(76)), [{ identifiers: { id: "1" } }]),
      { reason: "too_long", field: "identifiers" },
    ],
    ["empty object_id", objectOp(obj(""), [{ identifiers: { id: "1" } }]), { reason: "invalid", field: "identifiers" }],
    ["two person identifiers", objectOp(obj("a"), [{ identifiers: { id: "1", email: "a@b.c" } }]), { reason: "invalid", field: "cio_relationships" }],
    ["no person identifier", objectOp(obj("a"), [{ identifiers: {} }]), { reason: "invalid", field: "cio_relationships" }],
    [
      "phone inside an object's relationships",
      objectOp(obj("a"), [{ identifiers: { phone: "+1" } }]),
      { reason: "invalid", field: "cio_relationships" },
    ],
    ["person id a number", objectOp(obj("a"), [{ identifiers: { id: 42 } as never }]), { reason: "invalid", field: "cio_relationships" }],
    ["person id over 150 bytes", objectOp(obj("a"), [{ identifiers: { id: long } }]), { reason: "too_long", field: "cio_relationships" }],
    [
      "two identifiers on a person op",
      personOp({ id: "1", email: "a@b.c" }, [{ identifiers: obj("a") }]),
      { reason: "invalid", field: "identifiers" },
    ],
    ["person op id over 150 bytes", personOp({ id: long }, [{ identifiers: obj("a") }]), { reason: "too_long", field: "identifiers" }],
    [
      "person op without identifiers",
      { type: "person", action: "add_relationships", cio_relationships: [{ identifiers: obj("a") }] },
      { reason: "required", field: "identifiers" },
    ],
    ["bad object in a person op", personOp({ id: "1" }, [{ identifiers: obj("a", "x") }]), { reason: "invalid", field: "cio_relationships" }],
    ["relationship not an object", { ...valid, cio_relationships: ["42"] }, { reason: "invalid", field: "cio_relationships" }],
    [
      "attributes an array",
      objectOp(obj("a"), [{ identifiers: { id: "1" }, relationship_attributes: [] as never }]),
      { reason: "invalid", field: "cio_relationships" },
    ],
    [
      "nested attribute",
      objectOp(obj("a"), [{ identifiers: { id: "1" }, relationship_attributes: { a: { b: 1 } } }]),
      { reason: "invalid", field: "cio_relationships" },
    ],
    [
      "attribute value over 1000 bytes",
      objectOp(obj("a"), [{ identifiers: { id: "1" }, relationship_attributes: { a: "x".repeat(1001) } }]),
      { reason: "too_long", field: "cio_relationships" },
    ],
    [
      "attribute name over 150 bytes",
      objectOp(obj("a"), [{ identifiers: { id: "1" }, relationship_attributes: { [long]: 1 } }]),
      { reason: "too_long", field: "cio_relationships" },
    ],
    [
      "301 attributes",
      objectOp(obj("a"), [
        { identifiers: { id: "1" }, relationship_attributes: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [`a${i}`, 1])) },
      ]),
      { reason: "too_large", field: "cio_relationships" },
    ],
    ["op over 32,000 bytes", opOfSize(OP_LIMIT_BYTES + 1), { reason: "too_large", field: "" }],
  ];
  it.each(cases)("refuses %s", (_name, op, expected) => {
    const verdict = validateOp(op);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.error).toMatchObject(expected);
      expect(verdict.error.message.length).toBeGreaterThan(0);
    }
  });

  it("measures an op by its compact JSON and accepts exactly 32,000 bytes", () => {
    const op = opOfSize(OP_LIMIT_BYTES);
    expect(opBytes(op)).toBe(OP_LIMIT_BYTES);
    expect(validateOp(op).ok).toBe(true);
    expect(opBytes(opOfSize(OP_LIMIT_BYTES + 1))).toBe(OP_LIMIT_BYTES + 1);
  });

  it("takes null, empty string, numbers and booleans as attribute values", () => {
    const op = objectOp(obj("a"), [{ identifiers: { id: "1" }, relationship_attributes: { a: null, b: "", c: 3, d: false } }]);
    expect(validateOp(op).ok).toBe(true);
  });
});
