import { describe, expect, it } from "vitest";
import { csvField, toCsv } from "./csv";

describe("toCsv", () => {
  it("writes a header of every key and quotes per RFC 4180", () => {
    const text = toCsv([{ model: "gpt-4o", cost: 1.5 }, { model: 'a,"b"', tokens: 3 }]);
    expect(text).toBe('model,cost,tokens\r\ngpt-4o,1.5,\r\n"a,""b""",,3\r\n');
  });
  it("defuses spreadsheet formulas but keeps negative numbers", () => {
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField("-2.5")).toBe("-2.5");
  });
});
