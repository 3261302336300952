import { describe, expect, it } from "vitest";
import { bodySnippet, formatApiError, readAnswer } from "../../src/transport/response.js";

describe("readAnswer", () => {
  it.each([
    [200, "{}", "applied"],
    [200, "", "applied"],
    [200, '{"errors":[]}', "applied"],
    [202, "{}", "applied"],
    [307, "", "redirect"],
    [308, "", "redirect"],
    [401, "", "auth"],
    [403, "{}", "auth"],
    [408, "", "retry"],
    [429, "", "retry"],
    [500, "", "retry"],
    [502, "", "retry"],
    [503, "", "retry"],
    [504, "", "retry"],
    [413, "", "too-large"],
    [400, '{"errors":[{"reason":"malformed","message":"bad json"}]}', "invalid"],
    [400, "oops", "invalid"],
    [207, '{"errors":[{"batch_index":1,"reason":"x"}]}', "partial"],
    [200, '{"errors":[{"batch_index":0,"reason":"x"}]}', "partial"],
    [207, '{"errors":[{"batch_index":9,"reason":"x"}]}', "invalid"], // names no op of a 2-op batch
    [207, "{}", "invalid"],
    [200, '{"errors":[{"reason":"x"}]}', "invalid"],
    [404, "not here", "failed"],
    [422, "{}", "failed"],
    [501, "", "failed"],
    [302, "", "failed"],
  ])("%i %s → %s", (status, body, kind) => {
    expect(readAnswer(status, body, 2).kind).toBe(kind);
  });

  it("groups 207 errors by the op they name, ignoring out-of-range indexes", () => {
    const a = readAnswer(
      207,
      JSON.stringify({
        errors: [
          { batch_index: 1, reason: "invalid_value", field: "identifiers.id", message: "too long" },
          { batch_index: 1, reason: "second" },
          { batch_index: 0, reason: "first" },
          { batch_index: 5, reason: "stray" },
          { batch_index: 0.5, reason: "odd" },
        ],
      }),
      3,
    );
    expect(a.kind).toBe("partial");
    if (a.kind !== "partial") return;
    expect([...a.failed.keys()].sort()).toEqual([0, 1]);
    expect(a.failed.get(1)?.map((e) => e.reason)).toEqual(["invalid_value", "second"]);
  });

  it("reads a 400's errors into one reason and keeps the field", () => {
    expect(readAnswer(400, '{"errors":[{"reason":"invalid","field":"batch","message":"bad op"},{"reason":"also"}]}', 1)).toEqual({
      kind: "invalid",
      status: 400,
      reason: "invalid: bad op (field: batch); also",
      field: "batch",
    });
  });

  it("quotes the status and a snippet of the body for unknown statuses", () => {
    expect(readAnswer(404, "<html>\n  no such\n  page</html>", 1)).toEqual({
      kind: "failed",
      status: 404,
      reason: "404 Not Found: <html> no such page</html>",
    });
    expect(readAnswer(422, "", 1)).toEqual({ kind: "failed", status: 422, reason: "422 Unprocessable Entity" });
  });
});

describe("formatApiError", () => {
  it.each([
    [
      { reason: "invalid_value", message: "person id too long", field: "identifiers.id" },
      "invalid_value: person id too long (field: identifiers.id)",
    ],
    [{ reason: "invalid_value" }, "invalid_value"],
    [{ message: "too long" }, "too long"],
    [{ field: "identifiers" }, "rejected (field: identifiers)"],
    [{}, "rejected"],
  ])("%j → %s", (e, text) => {
    expect(formatApiError(e)).toBe(text);
  });

  it("shortens long bodies", () => {
    expect(bodySnippet("x".repeat(500))).toHaveLength(201);
  });
});
