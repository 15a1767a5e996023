import { describe, expect, it } from "vitest";
import { cell } from "./table";

describe("cell", () => {
  it("shows a dash for nothing and compact JSON for objects", () => {
    expect(cell(null)).toBe("—");
    expect(cell("")).toBe("—");
    expect(cell({ a: 1 })).toBe('{"a":1}');
  });

  it("rounds measured fractions to three places and leaves integers and strings alone", () => {
    expect(cell(0.4611890084748858)).toBe("0.461");
    expect(cell(2.5)).toBe("2.5");
    expect(cell(1234567)).toBe("1234567");
    expect(cell("0.000123456")).toBe("0.000123456"); // an exact amount from the admin API
  });
});
