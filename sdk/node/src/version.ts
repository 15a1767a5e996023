export const VERSION = "0.1.0"; // kept equal to sdk/VERSION (the tests check it)
