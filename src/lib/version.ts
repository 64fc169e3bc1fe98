declare const DVM_VERSION: string;
/** Set by the bundler from package.json; tests running the sources see the dev marker. */
export const VERSION = typeof DVM_VERSION === "string" ? DVM_VERSION : "0.0.0-dev";
