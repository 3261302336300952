import { describe, expect, it } from "vitest";
import { dbSecrets, hasTopLevelOrderBy, maskDbUrl, positionToLineColumn, urlPassword } from "../../src/input/sql/text.js";

describe("hasTopLevelOrderBy: the rule --journal applies to a --sql query", () => {
  it.each([
    ["select * from m order by 1", true],
    ["SELECT * FROM m\nORDER\n  BY user_id, account_id", true],
    ["with t as (select * from m order by 1) select * from t order by 2", true],
    ["select a from x union all select a from y order by a", true],
    ["select * from m -- order by 1", false],
    ["select * from m /* order by 1 /* nested */ still */", false],
    ["select 'order by' as x from m", false],
    ['select "order by" from m', false],
    ["select $$ order by $$ from m", false],
    ["select $q$ ) order by ( $q$ from m", false],
    ["select E'it\\'s order by' from m", false],
    ["select * from (select * from m order by 1) t", false],
    ["with t as (select * from m order by 1) select * from t", false],
    ["select row_number() over (order by id) from m", false],
    ["select * from m", false],
    ["select border byline from m", false],
    ["select * from m order by", true],
  ])("%j → %s", (sql, expected) => {
    expect(hasTopLevelOrderBy(sql)).toBe(expected);
  });
});

describe("database URLs in messages", () => {
  it.each([
    ["postgres://app:s3cret-pw@db.internal:5432/prod", "postgres://app:***@db.internal:5432/prod", "s3cret-pw"],
    ["postgresql://app:p%40ss%3Aword@db/prod?sslmode=require", "postgresql://app:***@db/prod?sslmode=require", "p@ss:word"],
    ["postgres://app@db/prod?password=hunter22", "postgres://app@db/prod?password=***", "hunter22"],
    ["postgres://app@db/prod", "postgres://app@db/prod", undefined],
  ])("%s", (url, masked, password) => {
    expect(maskDbUrl(url)).toBe(masked);
    expect(urlPassword(url)).toBe(password);
    if (password !== undefined) expect(maskDbUrl(url)).not.toContain(password);
  });

  it("hides a URL it cannot parse whole, and collects every password form for redaction", () => {
    expect(maskDbUrl("postgres://a:b@[bad")).toBe("(the database URL)");
    expect(dbSecrets({ DATABASE_URL: "postgres://a:p%40ss@h/d", PGPASSWORD: "envpass" }, undefined)).toEqual(["p@ss", "p%40ss", "envpass"]);
  });
});

describe("positionToLineColumn", () => {
  it.each([
    ["select x", 1, { line: 1, column: 1 }],
    ["select x", 8, { line: 1, column: 8 }],
    ["select\n  from from", 15, { line: 2, column: 8 }],
    ["select 'é'\nfrom", 12, { line: 2, column: 1 }],
  ])("%j at %i", (sql, position, expected) => {
    expect(positionToLineColumn(sql, position)).toEqual(expected);
  });
});
