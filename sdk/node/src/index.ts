// Alfred's SDK: what the official OpenAI clients lack (admin and self-service APIs, image jobs,
// typed errors with Alfred's codes). Chat and images stay with the `openai` package.
export { Admin, Alfred, Images, jobFailure } from "./client.js";
export type { ClientOptions, JobEvent, JsonObject } from "./client.js";
export * from "./errors.js";
export type * from "./generated.js";
export { VERSION } from "./version.js";
